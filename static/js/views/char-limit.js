// Fields whose length the server limits. A browser's maxlength cuts a
// paste silently at the limit; instead the whole text stays, a counter
// appears near the limit ("58/64") and, beyond it, a message says by how
// much it is over. Sending is refused by the form's own check (see
// room-fields.js, message-fields.js), which this does not replace.

import { byId, el } from '../dom.js';
import { MAX_MESSAGE_CHARS } from '../message-fields.js';
import { ROOM_DESCRIPTION_MAX_CHARS, ROOM_NAME_MAX_CHARS } from '../room-fields.js';

/** The counter shows from this share of the limit on. */
const NEAR_SHARE = 0.8;

let counters = 0;

/** Characters as the server counts them (code points, not UTF-16 units). */
const length = (text) => [...text].length;

/**
 * Watch `input` against `max` characters. The counter goes right after
 * the field, or into `container` when given. Returns `update()`.
 */
export function limitField(input, max, container = null) {
  input.removeAttribute('maxlength');
  const id = `char-limit-${++counters}`;
  const count = el('span', { className: 'char-count', attrs: { 'aria-hidden': 'true' } });
  // Said once it is over, and read with the field (aria-describedby).
  const over = el('span', { id, className: 'char-over', attrs: { role: 'status' } });
  // Far from the limit the box is only visually hidden: the status stays a live region.
  const box = el('div', { className: 'char-limit quiet' }, over, count);
  if (container) container.append(box);
  else input.after(box);
  const described = input.getAttribute('aria-describedby');
  input.setAttribute('aria-describedby', described ? `${described} ${id}` : id);

  let wasOver = false;
  function update() {
    const n = length(input.value);
    const isOver = n > max;
    box.classList.toggle('quiet', n < Math.ceil(max * NEAR_SHARE));
    box.classList.toggle('over', isOver);
    count.textContent = `${n}/${max}`;
    over.textContent = isOver ? `Too long: ${n - max} character${n - max === 1 ? '' : 's'} over the limit of ${max}.` : '';
    if (isOver) input.setAttribute('aria-invalid', 'true');
    else if (wasOver) input.removeAttribute('aria-invalid');
    wasOver = isOver;
  }

  // The views also set values directly (a cleared composer, a dialog filled
  // with the room's name), which fires no input event.
  const native = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(input), 'value');
  Object.defineProperty(input, 'value', {
    configurable: true,
    get() { return native.get.call(this); },
    set(v) { native.set.call(this, v); update(); },
  });
  input.addEventListener('input', update);
  if (input.form) input.form.addEventListener('reset', () => setTimeout(update));
  update();
  return update;
}

/** The page's own limited fields: room names and descriptions, and the composer. */
export function mountCharLimits() {
  for (const id of ['room-name', 'room-settings-name']) limitField(byId(id), ROOM_NAME_MAX_CHARS);
  for (const id of ['room-description', 'room-settings-description']) limitField(byId(id), ROOM_DESCRIPTION_MAX_CHARS);
  limitField(byId('composer-input'), MAX_MESSAGE_CHARS, byId('composer'));
}
