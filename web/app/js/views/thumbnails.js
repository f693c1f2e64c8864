// Thumbnails of image files in the open conversation: a small image (PNG, JPEG, GIF, WebP;
// never SVG) is downloaded and decrypted once it is shown, and displayed from an object URL
// that is revoked when its message leaves the view or the view closes.

/** Image types shown inline; anything else stays a file card. */
export const THUMBNAIL_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
/** Larger images are not fetched without a click on Download. */
export const THUMBNAIL_MAX_BYTES = 10 * 1024 * 1024;

export class Thumbnails {
  /** `fetchBytes(m)` gives the decrypted bytes of a file message; `onReady(m)` re-renders it. */
  constructor(fetchBytes, onReady) {
    this.fetchBytes = fetchBytes;
    this.onReady = onReady;
    this.urls = new Map();
    this.pending = new Set();
    this.failed = new Set();
    this.closed = false;
  }

  static eligible(m) {
    const f = m.file;
    return m.type === 'file' && !!f?.fileId && THUMBNAIL_TYPES.has(f.mime) && f.size > 0 && f.size <= THUMBNAIL_MAX_BYTES;
  }

  /** The object URL of a message's thumbnail, or null (it is fetched in the background). */
  get(m) {
    if (this.urls.has(m.key)) return this.urls.get(m.key);
    if (!Thumbnails.eligible(m) || this.pending.has(m.key) || this.failed.has(m.key) || this.closed) return null;
    this.pending.add(m.key);
    this.fetchBytes(m).then((bytes) => {
      this.pending.delete(m.key);
      if (this.closed) return;
      this.urls.set(m.key, URL.createObjectURL(new Blob([bytes], { type: m.file.mime })));
      this.onReady(m);
    }, () => {
      this.pending.delete(m.key);
      this.failed.add(m.key);
    });
    return null;
  }

  /** Revokes the thumbnail of a message no longer shown. */
  release(key) {
    const url = this.urls.get(key);
    if (url) URL.revokeObjectURL(url);
    this.urls.delete(key);
    this.failed.delete(key);
  }

  /** Revokes every thumbnail (the view closes). */
  destroy() {
    this.closed = true;
    for (const key of [...this.urls.keys()]) this.release(key);
  }

  /** How many object URLs are alive (for tests). */
  get size() {
    return this.urls.size;
  }
}
