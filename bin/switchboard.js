#!/usr/bin/env node
import { main } from '../dist/src/cli.js';

main(process.argv).catch((err) => {
  process.stderr.write(`switchboard: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
