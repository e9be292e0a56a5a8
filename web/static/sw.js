// The HTTP viewer's Service Worker. A view of an exit web app lives under
// <base>view/<id>/ of the page's origin; this worker hands each request of a
// viewer tab to the tunnelkit page that holds the view's SSH session, which
// sends it with Go's net/http over direct-tcpip and answers with a stream.
// Nothing here reads or rewrites bodies: request bodies go as Blobs,
// responses as transferred ReadableStreams (backpressure end to end).
//
// Absolute paths of the exit ("/style.css" from a page under the view) are
// the exit's: a request made by a viewer tab (known by its clientId) is
// served from its view, and a navigation from a view's page (known by its
// referrer) is redirected into the view.
"use strict";

const base = new URL("./", self.location).pathname; // where the page lives
const viewPath = base + "view/";
const viewRE = new RegExp("^" + viewPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "([A-Za-z0-9_-]+)(/.*)?$");

// How long the pages have to say whether a view is theirs: a page busy
// with a large transfer still answers within this.
const claimTimeout = 10000;
// How often a pending answer checks that its page is still there.
const ownerCheckEvery = 2000;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

// viewOfClient caches which view a tab's document belongs to ("" for none).
const viewOfClient = new Map();

function viewOfURL(u) {
  const m = viewRE.exec(new URL(u).pathname);
  return m ? {id: m[1], path: m[2] || "/"} : null;
}

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== self.location.origin) return; // the network's business
  const v = viewOfURL(url.href);
  if (v) {
    if (!v.path.startsWith("/") || url.pathname === viewPath + v.id) {
      // "/view/<id>" without its slash: relative links need one.
      e.respondWith(Response.redirect(viewPath + v.id + "/" + url.search, 301));
      return;
    }
    e.respondWith(forward(v.id, v.path + url.search, e.request, e));
    return;
  }
  if (e.request.mode === "navigate") {
    // A link, form or iframe of a viewed page to an absolute path.
    const from = e.request.referrer && viewOfURL(e.request.referrer);
    if (from) e.respondWith(Response.redirect(viewPath + from.id + url.pathname + url.search, 307));
    return;
  }
  if (!e.clientId) return;
  const known = viewOfClient.get(e.clientId);
  if (known === "") return; // the page itself, or another tab of the origin
  e.respondWith((async () => {
    let id = known;
    if (id === undefined) {
      const c = await self.clients.get(e.clientId);
      const cv = c && viewOfURL(c.url);
      id = cv ? cv.id : "";
      viewOfClient.set(e.clientId, id);
    }
    if (!id) return fetch(e.request);
    return forward(id, url.pathname + url.search, e.request, e);
  })());
});

// forward asks every tunnelkit page of the origin (not the viewer tabs) to
// serve view id's request; the page that has the view answers.
async function forward(id, path, request, event) {
  const body = request.method === "GET" || request.method === "HEAD" ? null : await request.blob();
  const headers = [...request.headers];
  const pages = (await self.clients.matchAll({type: "window", includeUncontrolled: true}))
    .filter((c) => !viewOfURL(c.url));
  if (pages.length === 0) return gone();
  return new Promise((resolve) => {
    let undecided = pages.length, owner = null, done = false;
    const finish = (r) => { if (!done) { done = true; resolve(r); } };
    const timer = setTimeout(() => { if (!owner) finish(gone()); }, claimTimeout);
    const watch = setInterval(async () => {
      if (done) { clearInterval(watch); return; }
      if (owner && !(await self.clients.get(owner))) finish(gone());
    }, ownerCheckEvery);
    const end = (r) => { clearTimeout(timer); clearInterval(watch); finish(r); };
    for (const page of pages) {
      const ch = new MessageChannel();
      ch.port1.onmessage = (ev) => {
        const m = ev.data;
        switch (m.type) {
          case "not-mine": if (--undecided === 0 && !owner) end(gone()); break;
          case "accepted": owner = page.id; break;
          case "error": end(errorPage(m.status, m.title, m.message)); break;
          case "response": end(response(m, page.id, event)); break;
        }
      };
      page.postMessage({type: "tunnelkit-view", view: id, method: request.method, path, headers, body,
        referrer: request.referrer}, [ch.port2]);
    }
  });
}

const nullBody = new Set([101, 204, 205, 304]);

function response(m, owner, event) {
  const status = m.status >= 200 && m.status <= 599 ? m.status : 502;
  const body = nullBody.has(status) || !m.body ? null : watched(m.body, owner, event);
  return new Response(body, {status, statusText: m.statusText || "", headers: m.headers});
}

// watched passes a response body on chunk by chunk, keeping the worker
// alive until it ends, and errors it when the page carrying it goes away
// (a tab must not wait forever for the rest of a download).
function watched(body, owner, event) {
  const reader = body.getReader();
  let timer = 0, finish;
  event.waitUntil(new Promise((resolve) => { finish = resolve; }));
  const stop = () => { clearInterval(timer); finish(); };
  return new ReadableStream({
    start(c) {
      timer = setInterval(async () => {
        if (await self.clients.get(owner)) return;
        stop();
        c.error(new TypeError("the tunnelkit page carrying this view was closed"));
        reader.cancel().catch(() => {});
      }, ownerCheckEvery);
    },
    async pull(c) {
      try {
        const {value, done} = await reader.read();
        if (done) { stop(); c.close(); } else c.enqueue(value);
      } catch (err) { stop(); c.error(err); }
    },
    cancel(reason) { stop(); return reader.cancel(reason); },
  }, {highWaterMark: 1});
}

function gone() {
  return errorPage(502, "The tunnelkit page of this view is closed",
    "This view was carried by the SSH session of a tunnelkit page that is no longer open (it was closed, " +
    "reloaded, or its view was closed). Open tunnelkit again, connect, and open the web app from there.");
}

function errorPage(status, title, message) {
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  const html = `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${esc(title)}</title><body style="font:16px system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em">` +
    `<h1 style="font-size:1.3em" data-view-error>${esc(title)}</h1><p>${esc(message)}</p>`;
  return new Response(html, {status, headers: {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}});
}
