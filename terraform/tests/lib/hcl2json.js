// Parses Terraform files with HashiCorp's HCL parser (compiled to WebAssembly
// in @cdktf/hcl2json) and prints JSON on stdout.
//   node hcl2json.js DIR|FILE...      {"<path>": <parsed file>, ...}
//   node hcl2json.js --defaults DIR   {"<variable>": <default>, ...}
// Exits 1 with the parser's message when a file does not parse.
"use strict";
const fs = require("fs");
const path = require("path");
const { parse } = require(path.join(__dirname, "..", "node_modules", "@cdktf", "hcl2json"));

function tfFiles(arg) {
  const st = fs.statSync(arg);
  if (!st.isDirectory()) return [arg];
  return fs.readdirSync(arg).filter((f) => f.endsWith(".tf")).sort().map((f) => path.join(arg, f));
}

async function main() {
  const args = process.argv.slice(2);
  const defaultsOnly = args[0] === "--defaults";
  if (defaultsOnly) args.shift();
  if (args.length === 0) {
    process.stderr.write("usage: hcl2json.js [--defaults] DIR|FILE...\n");
    process.exit(2);
  }
  const out = {};
  for (const arg of args) {
    for (const file of tfFiles(arg)) {
      try {
        out[file] = await parse(file, fs.readFileSync(file, "utf8"));
      } catch (e) {
        process.stderr.write(`${file}: does not parse: ${e.message || e}\n`);
        process.exit(1);
      }
    }
  }
  if (!defaultsOnly) {
    process.stdout.write(JSON.stringify(out, null, 1) + "\n");
    return;
  }
  const defaults = {};
  for (const parsed of Object.values(out)) {
    for (const [name, blocks] of Object.entries(parsed.variable || {})) {
      defaults[name] = "default" in blocks[0] ? blocks[0].default : null;
    }
  }
  process.stdout.write(JSON.stringify(defaults, null, 1) + "\n");
}

main();
