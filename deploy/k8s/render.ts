/**
 * Writes every overlay to deploy/k8s/rendered/<overlay>/, or with --check only reports drift (exit 1).
 *   node deploy/k8s/render.ts [--check]      Node >= 22.18 runs TypeScript directly
 * On older Node the tests do the same: npx vitest run --config test/vitest.config.ts test/deploy/k8s.test.ts -u
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAll, renderedDir } from './src/manifests.ts';
import { OVERLAYS } from './src/overlays.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const check = process.argv.includes('--check');
const problems: string[] = [];

for (const [overlay, files] of renderAll(Object.values(OVERLAYS))) {
  const dir = join(root, renderedDir(overlay));
  const present = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
  for (const stale of present.filter((f) => !files.has(f))) {
    if (check) problems.push(`${renderedDir(overlay)}/${stale}: no longer rendered`);
    else rmSync(join(dir, stale));
  }
  for (const [file, text] of files) {
    const path = join(dir, file);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === text) continue;
    if (check) {
      problems.push(
        `${renderedDir(overlay)}/${file}: ${current === undefined ? 'missing' : 'differs from the generator'}`,
      );
    } else {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path, text);
      process.stdout.write(`wrote ${renderedDir(overlay)}/${file}\n`);
    }
  }
}

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\nrun: node deploy/k8s/render.ts\n`);
  process.exit(1);
}
