// Copies the Swagger UI files that server/docs embeds from the pinned
// swagger-ui-dist package into server/docs/assets, unchanged, and records the
// version there. Run it (npm run docs:assets) after changing the pin in
// package.json, then commit the copied files: the binary serves them with no
// CDN and no npm at run time.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
const dest = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'server', 'docs', 'assets');

const files = [
  'swagger-ui-bundle.js',
  'swagger-ui-bundle.js.LICENSE.txt',
  'swagger-ui.css',
  'favicon-32x32.png',
  'LICENSE',
  'NOTICE',
];
for (const f of files) copyFileSync(join(dist, f), join(dest, f));

const { version } = JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8'));
writeFileSync(join(dest, 'VERSION'), `swagger-ui-dist ${version}\n`);
console.log(`copied swagger-ui-dist ${version} (${files.length} files) to ${dest}`);
