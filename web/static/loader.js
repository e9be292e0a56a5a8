// Loads tunnelkit.wasm (the Go SSH client) and exposes window.tunnelkit.
//
// Contract with the Go side (wasm/): this script creates window.tunnelkit
// with a `ready` promise before starting Go; Go adds connect() and friends
// to that object (or replaces it) during start-up. `ready` resolves once
// tunnelkit.connect exists and rejects with a message for people when the
// client cannot load (not built, wrong type, Go exited).
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
    return cur && typeof cur.connect === "function" ? cur : null;
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
    const resp = await fetchWasm();
    let result;
    if (WebAssembly.instantiateStreaming && (resp.headers.get("Content-Type") || "").startsWith("application/wasm")) {
      result = await WebAssembly.instantiateStreaming(resp, go.importObject);
    } else {
      result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    }
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

  load().then(resolveReady, rejectReady);
})();
