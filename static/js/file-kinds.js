// What the client says about a file: its size in human units and, from the
// type the server recognised in its bytes, an icon and a word for its kind.

const UNITS = ['KB', 'MB', 'GB', 'TB'];

/** "512 bytes", "3.4 KB", "25 MB" (binary multiples, as the server's limits are). */
export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return n === 1 ? '1 byte' : `${n} bytes`;
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u += 1;
  }
  const shown = v < 10 ? Math.round(v * 10) / 10 : Math.round(v);
  return `${shown} ${UNITS[u]}`;
}

// Stroke icons (24x24 grid, currentColor) for the kinds of files.
const DOC = 'M14 3H6v18h12V7l-4-4ZM14 3v4h4';
export const FILE_ICONS = {
  paperclip: 'm20 11-8.5 8.5a5 5 0 0 1-7-7L13 4a3.3 3.3 0 0 1 4.7 4.7l-8.4 8.4a1.7 1.7 0 0 1-2.4-2.4L14.5 7',
  image: 'M4 5h16v14H4zM4 16l5-5 4 4 2-2 5 5M15.5 9.5h.01',
  pdf: `${DOC}M9 13h6M9 17h4`,
  text: `${DOC}M9 12h6M9 15h6M9 18h4`,
  audio: 'M9 18V6l11-2v12M9 18a3 3 0 1 1-6 0 3 3 0 0 1 6 0ZM20 16a3 3 0 1 1-6 0 3 3 0 0 1 6 0Z',
  video: 'M3 6h13v12H3zM16 10l5-3v10l-5-3',
  zip: `${DOC}M11 7h2M11 10h2M11 13h2`,
  file: DOC,
  download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
  prev: 'M15 5l-7 7 7 7',
  next: 'M9 5l7 7-7 7',
};

/** {icon, label} for a file's type. */
export function kindOf(type = '') {
  if (type.startsWith('image/')) return { icon: FILE_ICONS.image, label: 'Image' };
  if (type === 'application/pdf') return { icon: FILE_ICONS.pdf, label: 'PDF document' };
  if (type.startsWith('text/')) return { icon: FILE_ICONS.text, label: 'Text file' };
  if (type.startsWith('audio/')) return { icon: FILE_ICONS.audio, label: 'Audio' };
  if (type.startsWith('video/')) return { icon: FILE_ICONS.video, label: 'Video' };
  if (type === 'application/zip') return { icon: FILE_ICONS.zip, label: 'ZIP archive' };
  return { icon: FILE_ICONS.file, label: 'File' };
}

/** An attachment shown as a picture: an image the server made a thumbnail of. */
export const isPicture = (a) => Boolean(a && a.thumbnailUrl && String(a.type || '').startsWith('image/'));
