#!/usr/bin/env python3
"""Resolve Linux kernel modules by name into a load order, from an unpacked lib/modules/RELEASE tree, without kmod:
each module's dependencies are read from its own .modinfo section (depends=, and softdep= pre: modules, which
modprobe would load first and insmod does not), as depmod would.

  kmods.py MODDIR NAME...      print one path a line, relative to MODDIR, dependencies before what needs them

Names match file names with '-' and '_' taken as the same (as the kernel does). A name that no file has is an error:
a module built into this kernel (=y) has no file, so list only what its config builds as =m.
"""
import os
import sys


def norm(name):
    return name.replace("-", "_")


def modinfo(path):
    """The key=value strings of the .modinfo section, found as NUL-separated strings (the section holds nothing
    else, and no other section has 'depends=' at a string start)."""
    with open(path, "rb") as f:
        data = f.read()
    info = {}
    for s in data.split(b"\0"):
        for key in (b"depends=", b"softdep="):
            if s.startswith(key):
                info.setdefault(key[:-1].decode(), []).append(s[len(key):].decode(errors="replace"))
    return info


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    moddir, names = sys.argv[1], sys.argv[2:]
    index = {}
    for root, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if f.endswith(".ko"):
                index[norm(f[:-3])] = os.path.relpath(os.path.join(root, f), moddir)
    order, state = [], {}

    def visit(name, chain):
        n = norm(name)
        if state.get(n) == "done":
            return
        if state.get(n) == "active":
            sys.exit("kmods: dependency loop: " + " -> ".join(chain + [n]))
        if n not in index:
            sys.exit(f"kmods: no module {name} in {moddir} (built in, or not built?)" +
                     (f" (needed by {chain[-1]})" if chain else ""))
        state[n] = "active"
        info = modinfo(os.path.join(moddir, index[n]))
        deps = [d for v in info.get("depends", []) for d in v.split(",") if d]
        for v in info.get("softdep", []):
            words = v.split()
            # "pre: a b post: c": the modules after pre: up to the next section.
            if "pre:" in words:
                for w in words[words.index("pre:") + 1:]:
                    if w.endswith(":"):
                        break
                    if norm(w) in index:  # a soft dependency may name a module this kernel has built in
                        deps.append(w)
        for d in deps:
            visit(d, chain + [n])
        state[n] = "done"
        order.append(index[n])

    for name in names:
        visit(name, [])
    print("\n".join(order))


if __name__ == "__main__":
    main()
