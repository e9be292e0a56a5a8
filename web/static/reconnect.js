// Reconnecting sessions in the page: the connect form's choice to keep
// credentials, the options tunnelkit.connect takes for it, and the state
// shown on the session and on each forward. The rules (backoff, the host
// key that must match, which forwards come back) are Go's (wasm/reconnect.go);
// this module only asks and shows.

// credentialChoice is the connect form's checkbox. Unchecked (the
// default), the page drops the password, key and passphrase right after
// signing in and asks again when it must reconnect.
export function credentialChoice() {
  const label = document.createElement("label");
  label.className = "keep-credentials";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = "keep-credentials";
  box.name = "keepCredentials";
  label.append(box, " Keep my password/key in this tab to reconnect");
  const note = document.createElement("small");
  note.textContent = "Held in this tab's memory only, never stored; without it the page asks again after a lost connection.";
  label.append(document.createElement("br"), note);
  return label;
}

// reconnectOptions are merged into tunnelkit.connect's options.
export function reconnectOptions({ keep, onState, ask }) {
  return {
    reconnect: true,
    keepCredentials: !!keep,
    onState,
    onCredentials: keep ? undefined : ask,
  };
}

// describe words a state for a person.
export function describe(st) {
  switch (st.state) {
    case "connected":
      return "connected";
    case "reconnecting":
      return "reconnecting, attempt " + st.attempt + ", next in " + Math.max(1, Math.round(st.nextInMs / 1000)) + " s" +
        (st.error ? " (" + st.error + ")" : "");
    case "gave-up":
      return "gave up" + (st.error ? ": " + st.error : "");
  }
  return st.state;
}

// render shows st on the session element and on each forward's element
// (found by its data-spec); both carry data-state for styling and tests.
export function render(sessionEl, forwardsEl, st) {
  if (sessionEl) {
    sessionEl.dataset.state = st.state;
    sessionEl.textContent = describe(st);
  }
  if (!forwardsEl) return;
  for (const f of st.forwards || []) {
    const el = forwardsEl.querySelector('[data-spec="' + CSS.escape(f.spec) + '"]');
    if (!el) continue;
    el.dataset.state = f.state;
    el.title = f.state === "up" ? "up on " + f.entry : f.state + (f.error ? ": " + f.error : "");
  }
}

// askCredentials asks for the password (or the key's passphrase) again in
// a small dialog, for a reconnect when they were not kept.
export function askCredentials(target, useKey, keyText) {
  return new Promise((resolve) => {
    const dlg = document.createElement("dialog");
    dlg.className = "reconnect-credentials";
    const form = document.createElement("form");
    form.method = "dialog";
    const p = document.createElement("p");
    p.textContent = "The connection to " + target + " was lost. Sign in again to reconnect.";
    const input = document.createElement("input");
    input.type = "password";
    input.autocomplete = useKey ? "off" : "current-password";
    input.placeholder = useKey ? "Key passphrase (empty if none)" : "Password";
    const ok = document.createElement("button");
    ok.textContent = "Reconnect";
    ok.value = "ok";
    const cancel = document.createElement("button");
    cancel.textContent = "Give up";
    cancel.value = "cancel";
    form.append(p, input, ok, cancel);
    dlg.append(form);
    document.body.append(dlg);
    dlg.addEventListener("close", () => {
      const v = input.value;
      input.value = "";
      dlg.remove();
      if (dlg.returnValue !== "ok") return resolve(null);
      resolve(useKey ? { privateKey: keyText, passphrase: v } : { password: v });
    });
    dlg.showModal();
    input.focus();
  });
}
