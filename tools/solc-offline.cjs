#!/usr/bin/env node
// A stand-in for the native `solc` executable, backed by solc-js (the official
// compiler built to WebAssembly, from npm). py-solc-x only needs `--version`
// and `--standard-json`, so that is all this speaks. It exists because the
// native binaries are downloaded from binaries.soliditylang.org, which offline
// machines cannot reach.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

function optionValues(flag) {
  const out = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag && i + 1 < args.length) out.push(...args[i + 1].split(','));
    else if (args[i].startsWith(flag + '=')) out.push(...args[i].slice(flag.length + 1).split(','));
  }
  return out.filter(Boolean);
}

if (args.includes('--version')) {
  // py-solc-x parses "Version: X.Y.Z+commit.HASH" from this line.
  process.stdout.write('solc, the solidity compiler commandline interface\n');
  process.stdout.write(`Version: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('solc-offline: only --version and --standard-json are supported\n');
  process.exit(2);
}

const roots = [process.cwd(), ...optionValues('--base-path'), ...optionValues('--include-path'),
  ...optionValues('--allow-paths')];

function findImport(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : roots.map((root) => path.resolve(root, importPath));
  for (const candidate of candidates) {
    try {
      return { contents: fs.readFileSync(candidate, 'utf8') };
    } catch (_) { /* try the next root */ }
  }
  return { error: `File not found: ${importPath} (looked in ${roots.join(', ')})` };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImport }));
