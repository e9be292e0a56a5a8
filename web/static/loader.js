// Loads tunnelkit.wasm (the Go SSH client) and exposes window.tunnelkit.
//
// Contract with the Go side (wasm/): this script creates window.tunnelkit
// with a `ready` promise before starting Go; Go adds connect() and friends
// to that object (or replaces it) during start-up. `ready` resolves once
// tunnelkit.connect exists and rejects with a message for people when the
// client cannot load (not built, wrong type, Go exited). While the module
// downloads, #load-progress and #load-text show how far it is.
// Go cannot throw into JavaScript, so tunnelkit.parseForward returns its
// Error and is wrapped here to throw it (wasm/tunnelkit.d.ts: the API).
"use strict";
(function () {
  let resolveReady, rejectReady;
  const ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
  const tk = window.tunnelkit || {};
  tk.ready = ready;
  window.tunnelkit = tk;

  function api() {
    const cur = window.tunnelkit;
    if (cur && cur !== tk && !cur.ready) cur.ready = ready;
    if (!cur || typeof cur.connect !== "function") return null;
    const raw = cur.parseForward;
    if (typeof raw === "function" && !raw.wrapped) {
      const parseForward = (text, options) => {
        const r = raw(text, options);
        if (r instanceof Error) throw r;
        return r;
      };
      parseForward.wrapped = true;
      cur.parseForward = parseForward;
    }
    return cur;
  }

  // ---- progress while the module downloads ------------------------------

  function mb(n) {
    return (n / 1e6).toFixed(1);
  }

  function showProgress(loaded, total) {
    const bar = document.getElementById("load-progress");
    const label = document.getElementById("load-text");
    if (!bar || !label) return;
    if (total > 0) {
      bar.max = total;
      bar.value = Math.min(loaded, total);
      label.textContent = "Loading the SSH client… " + mb(Math.min(loaded, total)) + " of " + mb(total) + " MB";
    } else {
      bar.removeAttribute("value"); // indeterminate
      label.textContent = "Loading the SSH client… " + mb(loaded) + " MB";
    }
    bar.dataset.loaded = String(loaded);
    bar.dataset.total = String(total);
  }

  function showStarting() {
    const label = document.getElementById("load-text");
    if (label) label.textContent = "Starting the SSH client…";
  }

  function hideProgress() {
    const box = document.getElementById("load-box");
    if (box) box.hidden = true;
  }

  // counted wraps resp so that reading its body reports progress. A
  // compressed response's Content-Length counts bytes on the wire while the
  // body yields decoded bytes: the server's X-Decoded-Length scales them.
  function counted(resp) {
    if (!resp.body || typeof ReadableStream !== "function") return resp;
    const wire = Number(resp.headers.get("Content-Length")) || 0;
    const decoded = Number(resp.headers.get("X-Decoded-Length")) || (resp.headers.get("Content-Encoding") ? 0 : wire);
    const scale = decoded > 0 && wire > 0 ? wire / decoded : 1;
    const total = decoded > 0 ? wire : 0;
    let loaded = 0;
    showProgress(0, total);
    const reader = resp.body.getReader();
    const body = new ReadableStream({
      async pull(ctrl) {
        const { done, value } = await reader.read();
        if (done) {
          showProgress(total || loaded * scale, total);
          ctrl.close();
          return;
        }
        loaded += value.byteLength;
        showProgress(Math.round(loaded * scale), total);
        ctrl.enqueue(value);
      },
      cancel(why) { return reader.cancel(why); },
    });
    return new Response(body, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
  }

  // [cache] The server names the .wasm by its content hash in a meta tag;
  // that URL is cached as immutable, so a second visit neither downloads nor
  // revalidates it. Without the tag, the plain name, revalidated.
  function wasmURL() {
    const m = document.querySelector('meta[name="tunnelkit-wasm"]');
    return m && m.content ? { url: m.content, cache: "default" } : { url: "tunnelkit.wasm", cache: "no-cache" };
  }

  async function fetchWasm() {
    const w = wasmURL(); // [cache]
    const resp = await fetch(w.url, { cache: w.cache });
    if (resp.status === 404) {
      throw new Error("The SSH client (tunnelkit.wasm) is not built into this server. Run make build, then restart tunnelkit.");
    }
    if (!resp.ok) {
      throw new Error("Could not load the SSH client: the server answered " + resp.status + " " + resp.statusText + " for tunnelkit.wasm.");
    }
    return resp;
  }

  async function load() {
    if (typeof Go !== "function") {
      throw new Error("wasm_exec.js did not load, so the SSH client cannot start. Run make build, then restart tunnelkit.");
    }
    if (typeof WebAssembly !== "object") {
      throw new Error("This browser does not support WebAssembly, which tunnelkit needs.");
    }
    const go = new Go();
    const resp = counted(await fetchWasm());
    let result;
    if (WebAssembly.instantiateStreaming && (resp.headers.get("Content-Type") || "").startsWith("application/wasm")) {
      result = await WebAssembly.instantiateStreaming(resp, go.importObject);
    } else {
      result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    }
    showStarting();
    performance.mark("tunnelkit:compiled"); // [timing] for the bench: fetch and compile done, Go starts
    let exited = false;
    go.run(result.instance).then(() => { exited = true; }, (e) => { exited = true; console.error(e); });
    // Go registers its API while main runs; give it a bounded time.
    for (let i = 0; i < 200; i++) {
      const a = api();
      if (a) return a;
      if (exited) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(exited ? "The SSH client exited during start-up (see the browser console)." : "The SSH client did not start within 5 seconds (see the browser console).");
  }

  load().then((a) => { hideProgress(); resolveReady(a); }, (e) => { hideProgress(); rejectReady(e); });
})();
