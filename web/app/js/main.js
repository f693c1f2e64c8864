// Entry point: checks that the browser has what the app needs, then starts it.

import { missingFeatures } from './crypto/support.js';
import { renderUnsupported } from './views/unsupported.js';
import { App } from './app.js';

async function main() {
  const root = document.getElementById('app');
  const missing = await missingFeatures();
  if (missing.length) return renderUnsupported(root, missing);
  const app = new App(root);
  await app.start();
}

main();
