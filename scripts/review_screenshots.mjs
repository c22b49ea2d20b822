// Screenshots of the review UI for the README (docs/review-*.png). Run after `npm run build`:
//   node scripts/review_screenshots.mjs <data-dir> <model-dir> [out-dir=docs]
// It starts `gradia-dist review` as annotator "screenshots", judges a few images with the
// keyboard, opens the editor on one, and saves one picture per screen. Needs /usr/bin/chromium.
// The README's pictures: a 96 px set made with `make-data --negative-maps --train 200 --val 100
// --test 20 --size 96 --seed 1` and a 1-epoch tiny18 model (`--input-size 96`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [dataDir, modelDir, outDir = 'docs'] = process.argv.slice(2);
if (!dataDir || !modelDir) {
  console.error('usage: node scripts/review_screenshots.mjs <data-dir> <model-dir> [out-dir]');
  process.exit(2);
}
// a fresh journal, so the pictures show the same images every time
fs.rmSync(path.join(dataDir, 'review', 'model_out', 'judgements', 'screenshots.jsonl'), { force: true });
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const child = spawn(process.execPath, [path.join(root, 'bin', 'gradia-dist.js'), 'review', '--data-dir', dataDir, '--model-dir', modelDir, '--port', '0', '--annotator', 'screenshots'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const m = /http:\S+/.exec(out);
    if (m) resolve(m[0]);
  });
  child.on('exit', (c) => reject(new Error(`review exited ${c}`)));
});
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
try {
  const page = await browser.newPage({ viewport: { width: 940, height: 600 }, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForSelector('#verdict');
  const saved = () => page.waitForFunction(() => document.getElementById('status').textContent.startsWith('saved'));
  for (const k of ['r', 'u', 'r', 'u', 'u']) {
    await page.keyboard.press(k);
    await saved();
  }
  await page.keyboard.press('ArrowLeft');
  await page.waitForTimeout(300);
  await page.keyboard.press('m'); // the human map's outline
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(outDir, 'review-judging.png') });
  await page.keyboard.press('d');
  await page.waitForSelector('#editor-canvas');
  const box = await page.locator('#editor-canvas').boundingBox();
  // erase a band through the human map and add a stroke, as a person correcting it would
  await page.keyboard.press('e');
  await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.22);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.98, box.y + box.height * 0.25, { steps: 12 });
  await page.mouse.up();
  await page.keyboard.press('b');
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.42, { steps: 8 });
  await page.mouse.up();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.75);
  await page.screenshot({ path: path.join(outDir, 'review-editor.png') });
} finally {
  await browser.close();
  child.kill('SIGTERM');
}
