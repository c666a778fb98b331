// npm links the bins of dependencies into node_modules/.bin but never the project's own;
// linking it makes `npx switchboard` and node_modules/.bin/switchboard work in the checkout.
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { resolve } from 'node:path';

const binDir = resolve('node_modules/.bin');
mkdirSync(binDir, { recursive: true });
const link = resolve(binDir, 'switchboard');
rmSync(link, { force: true });
symlinkSync('../../bin/switchboard.js', link);
