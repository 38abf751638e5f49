// Small DOM helpers. Everything user-supplied reaches the page through
// textContent or text nodes built here: this module never parses HTML.

/**
 * Create an element. `props` may hold `className`, `text` (set as
 * textContent), `attrs` (plain attributes), `dataset` and `on` (listeners);
 * remaining keys are set as element properties (e.g. `type`, `disabled`).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  const { className, text, attrs, dataset, on, ...rest } = props;
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== false && v != null) node.setAttribute(k, v === true ? '' : String(v));
  if (dataset) Object.assign(node.dataset, dataset);
  if (on) for (const [type, fn] of Object.entries(on)) node.addEventListener(type, fn);
  Object.assign(node, rest);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Look an element up by id, failing loudly when the HTML and JS disagree. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Inline icon built from path data we ship (never from user content). */
export function icon(pathData, size = 20) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', pathData);
  svg.append(path);
  return svg;
}

// Stroke icons (24x24 grid), drawn with currentColor so they follow the theme.
export const ICONS = {
  menu: 'M4 6h16M4 12h16M4 18h16',
  lock: 'M7 11V8a5 5 0 0 1 10 0v3M5 11h14v10H5z',
  hash: 'M10 3 8 21M16 3l-2 18M4 8.5h17M3 15.5h17',
  send: 'M4 12 20 4l-6 16-3-7-7-1Z',
  users: 'M16 20v-1a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4v1M9.5 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7M21 20v-1a4 4 0 0 0-3-3.9M15 4.1a3.5 3.5 0 0 1 0 6.8',
  plus: 'M12 5v14M5 12h14',
  logout: 'M9 4H5v16h4M16 8l4 4-4 4M20 12H10',
  down: 'M12 5v14M6 13l6 6 6-6',
  close: 'M6 6l12 12M18 6 6 18',
  edit: 'M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4ZM13.5 6.5l4 4',
  trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  shield: 'M12 3 5 6v5c0 4.5 3 8.5 7 10 4-1.5 7-5.5 7-10V6l-7-3Z',
  smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18ZM8.5 14.5a4.5 4.5 0 0 0 7 0M9 9.5v.5M15 9.5v.5',
  bell: 'M6 16v-5a6 6 0 0 1 12 0v5l2 2H4l2-2ZM10 21h4',
  bellOff: 'M6 16v-5a6 6 0 0 1 9.5-4.9M18 11v5l2 2H7M10 21h4M3 3l18 18',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14ZM20 20l-4.2-4.2',
};

/**
 * Show `text` in a form's error line (role=alert); mark `field` (one of
 * `fields`) invalid and put the keyboard on it, so the user lands where the
 * fix is. Called with '' it clears the error and every mark.
 */
export function showFormError(box, fields, text, field = null) {
  box.textContent = text;
  for (const input of fields) input.removeAttribute('aria-invalid');
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}
