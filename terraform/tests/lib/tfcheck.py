#!/usr/bin/python3
"""Helpers for the Terraform tests: run the real HCL parser (hcl2json.js,
installed from package-lock.json with `npm ci` when missing) and build the
module README's inputs/outputs tables from what it parses; render the
module's user data with real Terraform (also for ami/tests/t_firstboot, which
feeds that document to the first-boot script).

CLI: tfcheck.py readme-tables DIR   prints the tables the README must hold.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_TOP = os.path.dirname(TESTS)
FLEET_MODULE = os.path.join(TF_TOP, "modules", "worker-fleet")
SKIP = 77


class Unavailable(Exception):
    """The parser cannot be installed or run here: the caller skips."""


def ensure_parser():
    """Install @cdktf/hcl2json under terraform/tests/node_modules if absent."""
    marker = os.path.join(TESTS, "node_modules", "@cdktf", "hcl2json", "package.json")
    if os.path.exists(marker):
        return
    for tool in ("node", "npm"):
        if subprocess.run(["sh", "-c", "command -v " + tool],
                          stdout=subprocess.DEVNULL).returncode != 0:
            raise Unavailable(tool + " is not installed (ci/deps.sh all installs it)")
    # Two tests may start at once: one npm ci at a time.
    with open(os.path.join(TESTS, ".npm-ci.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):
            return
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=TESTS, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
        if r.returncode != 0 or not os.path.exists(marker):
            raise Unavailable("npm ci failed in terraform/tests: " + r.stdout.strip()[-300:])


def parse(*paths, defaults=False):
    """Parse .tf files/dirs; returns {path: parsed} (or {variable: default})."""
    ensure_parser()
    cmd = ["node", os.path.join(TESTS, "lib", "hcl2json.js")]
    if defaults:
        cmd.append("--defaults")
    r = subprocess.run(cmd + list(paths), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if r.returncode != 0:
        raise ValueError("hcl2json: " + r.stderr.strip())
    return json.loads(r.stdout)


def blocks(parsed, kind):
    """Merge one top-level block kind over all files: {name: [body, ...]}
    for variable/output/module/locals-free kinds; {type: {name: [body]}} for
    resource/data."""
    out = {}
    for doc in parsed.values():
        for key, val in (doc.get(kind) or {}).items():
            if kind in ("resource", "data"):
                out.setdefault(key, {}).update(val)
            else:
                out[key] = val
    return out


def locals_of(parsed):
    out = {}
    for doc in parsed.values():
        for body in doc.get("locals") or []:
            out.update(body)
    return out


def expr_text(value):
    """The source text of an expression as hcl2json keeps it ("${...}")."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return re.sub(r"\s+", " ", value[2:-1]).strip()
    return json.dumps(value)


def subset(parsed, directory):
    """The files of one directory out of a parse() of several."""
    d = os.path.abspath(directory)
    return {f: v for f, v in parsed.items() if os.path.dirname(os.path.abspath(f)) == d}


def readme_tables(directory, parsed=None):
    parsed = subset(parsed, directory) if parsed is not None else parse(directory)
    lines = ["## Inputs", "",
             "| Name | Description | Type | Default | Required |",
             "|------|-------------|------|---------|:--------:|"]
    for name, body in sorted(blocks(parsed, "variable").items()):
        b = body[0]
        required = "default" not in b
        default = "n/a" if required else "`%s`" % json.dumps(b["default"], sort_keys=True)
        typ = expr_text(b.get("type", "any"))
        lines.append("| %s | %s | `%s` | %s | %s |" % (
            name, b.get("description", "").replace("|", "\\|"), typ.replace("|", "\\|"),
            default.replace("|", "\\|"), "yes" if required else "no"))
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, body in sorted(blocks(parsed, "output").items()):
        lines.append("| %s | %s |" % (name, body[0].get("description", "").replace("|", "\\|")))
    return "\n".join(lines) + "\n"


def terraform_env(tmp):
    env = dict(os.environ)
    env["TF_DATA_DIR"] = os.path.join(tmp, ".terraform")
    env["TF_IN_AUTOMATION"] = "1"
    env["CHECKPOINT_DISABLE"] = "1"
    if not os.path.exists(env.get("TF_CLI_CONFIG_FILE", "/nonexistent")):
        env.pop("TF_CLI_CONFIG_FILE", None)
    return env


def render_user_data(tfvars, module=FLEET_MODULE):
    """local.user_data of the worker-fleet module for tfvars, evaluated by
    `terraform console`: variables.tf and userdata.tf need no provider, so
    `terraform init` works offline. Returns (document, None), or (None,
    Terraform's error output) when Terraform refuses the variables.
    Raises Unavailable when terraform is not installed."""
    if not shutil.which("terraform"):
        raise Unavailable("terraform is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("variables.tf", "userdata.tf"):
            shutil.copy(os.path.join(module, f), tmp)
        with open(os.path.join(tmp, "versions.tf"), "w") as f:
            f.write('terraform {\n  required_version = ">= 1.5.0"\n}\n')
        with open(os.path.join(tmp, "t.tfvars.json"), "w") as f:
            json.dump(tfvars, f)
        env = terraform_env(tmp)
        r = subprocess.run(["terraform", "init", "-backend=false", "-input=false", "-no-color"],
                           cwd=tmp, env=env, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise ValueError("terraform init of the user data files failed: " + r.stderr[-500:])
        r = subprocess.run(["terraform", "console", "-var-file=t.tfvars.json", "-no-color"],
                           cwd=tmp, env=env, input="local.user_data\n",
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            return None, r.stdout + r.stderr
        return json.loads(json.loads(r.stdout.strip())), None


def main(argv):
    if len(argv) == 3 and argv[1] == "readme-tables":
        sys.stdout.write(readme_tables(argv[2]))
        return 0
    sys.stderr.write("usage: tfcheck.py readme-tables DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
