// The endpoint panels' DOM in one call: h(tag, attrs, ...children) sets
// data-, aria-, for and role as attributes and the rest as properties;
// uid gives ids unique on the page for labels and aria links.

export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "for" || k === "role") e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...kids);
  return e;
}

let ids = 0;
export const uid = (prefix) => prefix + "-" + ++ids;
