// Host keys: the fingerprints this browser trusts (localStorage holds
// fingerprints only, nothing secret), the "Trust this gateway?" prompt for a
// new key and the warning for a changed one.
import { $ } from "./dom.js";

const KNOWN_HOSTS_KEY = "tunnelkit.knownHosts"; // host:port -> "SHA256:..."

export function knownHosts() {
  try { return JSON.parse(localStorage.getItem(KNOWN_HOSTS_KEY) || "{}") || {}; } catch (_) { return {}; }
}

function save(all) {
  try { localStorage.setItem(KNOWN_HOSTS_KEY, JSON.stringify(all)); } catch (_) { /* private mode: ask again next time */ }
}

export function rememberHostKey(hp, fp) {
  const all = knownHosts();
  all[hp] = fp;
  save(all);
}

export function forgetHostKey(hp) {
  const all = knownHosts();
  delete all[hp];
  save(all);
}

// ask shows dialog and resolves with the value of the button that closed it.
function ask(dialog, focus) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.showModal();
    if (focus) focus.focus(); // the primary action first
  });
}

// checkHostKey is connect's onHostKey: true only for a key this browser
// knows or the person trusts now. A changed key is refused; mismatch gets
// {hp, known, fp, forgotten} for the form's message. role is "gateway" or
// "jump host": each hop of a jump path is asked about on its own.
export async function checkHostKey(hp, fp, mismatch, role = "gateway") {
  const known = knownHosts()[hp];
  if (known === fp) return true;
  if (known) {
    Object.assign(mismatch, { hp, known, fp, forgotten: false, role });
    $("mismatch-title").textContent = "Warning: the " + role + "'s host key has changed";
    $("mismatch-host").textContent = hp;
    $("mismatch-known").textContent = known;
    $("mismatch-got").textContent = fp;
    if ((await ask($("mismatch-dialog"), $("mismatch-dialog").querySelector("button[value=close]"))) === "forget") {
      forgetHostKey(hp);
      mismatch.forgotten = true;
    }
    return false;
  }
  $("hostkey-title").textContent = "Trust this " + role + "?";
  $("hostkey-host").textContent = role === "gateway" ? hp : hp + " (jump host)";
  $("hostkey-fp").textContent = fp;
  if ((await ask($("hostkey-dialog"), $("hostkey-accept"))) !== "accept") return false;
  if ($("hostkey-remember").checked) rememberHostKey(hp, fp);
  return true;
}
