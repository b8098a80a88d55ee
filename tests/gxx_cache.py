#!/usr/bin/env python3
"""A g++ stand-in for the test session: the real g++, with compiled objects reused by content.

conftest.py puts a ``g++`` that runs this file first on PATH for the session. A compile of C++
sources (``g++ FLAGS a.cpp b.cpp -o out`` or ``g++ FLAGS -c a.cpp -o a.o``) is split into one
``-c`` per source, as the g++ driver itself does (two at a time, messages kept in source order).
Each object is looked up under the hash of the source *preprocessed with the same flags*
(``-E -P``: every header and macro the source sees), the flags that act after preprocessing and
the real compiler's version. A miss compiles the original source with the original flags (the
diagnostics are the compiler's own; a hit repeats them); failures are never stored. The objects
are then linked with the original arguments. Anything else (probes reading stdin, ``-E``,
``-fsyntax-only``, dependency output, version queries) goes to the real g++ unchanged.

Why: FINN+'s cppsim builds recompile the same ``cnpy.cpp`` (12 s at -O3) for every HLS layer
and again to report a failed layer's first error. The cache lives in the session's temporary
folder, so every test run compiles every distinct source at least once.

Environment: ``TINYICENET_TEST_REAL_GXX`` (the real compiler), ``TINYICENET_TEST_GXX_CACHE``
(the cache folder).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".c++", ".C")
#: options that take their value as the next argument
WITH_VALUE = {"-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem", "-iquote", "-x",
              "-MF", "-MT", "-MQ", "-L", "-l", "-Xlinker", "-idirafter"}
#: options that only change what the preprocessor produces (its output is hashed instead)
PREPROCESSOR = ("-I", "-D", "-U", "-include", "-imacros", "-isystem", "-iquote", "-idirafter")
#: options that only matter to the link
LINK_ONLY = ("-l", "-L", "-Wl,", "-Xlinker", "-shared", "-rdynamic", "-static", "-pie",
             "-no-pie")
#: anything here: not a plain compile, hand it over unchanged
PASS_THROUGH = ("-E", "-S", "-M", "-MM", "-MD", "-MMD", "-fsyntax-only", "-x", "-", "--version",
                "-v", "-###", "-dumpversion", "-dumpmachine", "-save-temps", "-flto")


def _real() -> str:
    return os.environ["TINYICENET_TEST_REAL_GXX"]


def _exec_real(args: list[str]) -> None:
    os.execv(_real(), [_real(), *args])


def _split(args: list[str]):
    """(options as (flag, value|None) pairs in order, sources, output or None, has -c)."""
    opts, sources, output, compile_only = [], [], None, False
    i = 0
    while i < len(args):
        a = args[i]
        if a in WITH_VALUE:
            if i + 1 >= len(args):
                return None
            if a == "-o":
                output = args[i + 1]
            else:
                opts.append((a, args[i + 1]))
            i += 2
            continue
        if a == "-c":
            compile_only = True
        elif not a.startswith("-") and a.endswith(SOURCE_SUFFIXES):
            sources.append(a)
        else:
            opts.append((a, None))
        i += 1
    return opts, sources, output, compile_only


def _flat(pairs) -> list[str]:
    return [x for flag, value in pairs for x in ((flag,) if value is None else (flag, value))]


@functools.cache
def _version() -> str:
    return subprocess.run([_real(), "--version"], capture_output=True, text=True).stdout


def _compile(source: str, compile_pairs, cache: Path, work: Path, index: int) -> \
        tuple[int, Path, bytes]:
    """Object of ``source`` (cached by preprocessed content): (exit status, object path, what
    the compiler printed)."""
    compile_opts = _flat(compile_pairs)
    obj = work / f"{index}_{Path(source).stem}.o"
    pre = subprocess.run([_real(), *compile_opts, "-E", "-P", source], capture_output=True)
    key = None
    if pre.returncode == 0:
        after = _flat([(f, v) for f, v in compile_pairs if not f.startswith(PREPROCESSOR)])
        digest = hashlib.sha256()
        for part in (_version().encode(), "\0".join(after).encode(), pre.stdout):
            digest.update(part)
            digest.update(b"\0\0")
        key = digest.hexdigest()
        hit = cache / f"{key}.o"
        if hit.is_file():  # the object and what the compiler said making it (warnings)
            shutil.copyfile(hit, obj)
            return 0, obj, (cache / f"{key}.txt").read_bytes()
    proc = subprocess.run([_real(), *compile_opts, "-c", source, "-o", str(obj)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode == 0 and key is not None:
        tmp = cache / f".{key}.{os.getpid()}.{index}.tmp"
        tmp.write_bytes(proc.stdout)
        os.replace(tmp, cache / f"{key}.txt")  # before the object: a hit finds both
        shutil.copyfile(obj, tmp)
        os.replace(tmp, cache / f"{key}.o")
    return proc.returncode, obj, proc.stdout


def main(args: list[str]) -> int:
    cache = Path(os.environ["TINYICENET_TEST_GXX_CACHE"])
    parsed = _split(args)
    if parsed is None or any(a in PASS_THROUGH or a.startswith("-x") for a in args):
        _exec_real(args)
    opts, sources, output, compile_only = parsed
    if not sources or (compile_only and (len(sources) != 1 or output is None)):
        _exec_real(args)
    compile_pairs = [(f, v) for f, v in opts
                     if not f.startswith(LINK_ONLY) and not f.endswith((".o", ".a", ".so"))]
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gxx-cache-", dir=cache) as tmp:
        work = Path(tmp)
        # the units on at most 2 processes (the g++ driver runs them one after another; the
        # objects are the same)
        with ThreadPoolExecutor(max_workers=min(2, len(sources))) as pool:
            done = list(pool.map(lambda item: _compile(item[1], compile_pairs, cache, work,
                                                       item[0]), enumerate(sources)))
        for _, _, said in done:
            sys.stderr.buffer.write(said)
        sys.stderr.flush()
        status = next((rc for rc, _, _ in done if rc), 0)
        objects = {src: obj for src, (_, obj, _) in zip(sources, done)}
        if status:
            return status
        if compile_only:
            shutil.copyfile(objects[sources[0]], output)
            return 0
        link, i = [], 0
        while i < len(args):  # the original arguments, sources replaced by their objects
            a = args[i]
            if a in WITH_VALUE:
                if not a.startswith(PREPROCESSOR) and a != "-x":
                    link += [a, args[i + 1]]
                i += 2
                continue
            if a in objects:
                link.append(str(objects[a]))
            elif not a.startswith(PREPROCESSOR):
                link.append(a)
            i += 1
        return subprocess.run([_real(), *link]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
