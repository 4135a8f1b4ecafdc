#!/usr/bin/env python3
"""Writes the binary fixtures of berth's own conformance cases (tar archives in several
compressions), so they can be remade and reviewed: python3 test/conformance/gen-fixtures.py"""
import bz2
import gzip
import io
import lzma
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000


def member(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
    info.linkname = link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def tree_members(prefix):
    return [
        member("./", tarfile.DIRTYPE, mode=0o700),
        member(f"{prefix}/", tarfile.DIRTYPE, mode=0o750, uid=1234, gid=5678),
        member(f"{prefix}/a.txt", data=b"alpha\n", mode=0o640, uid=1234, gid=5678),
        member(f"{prefix}/hard.txt", tarfile.LNKTYPE, link=f"{prefix}/a.txt", mode=0o640, uid=1234, gid=5678),
        member(f"{prefix}/sym", tarfile.SYMTYPE, link="a.txt", mode=0o777),
        member(f"{prefix}/exec.sh", data=b"#!/bin/sh\necho hi\n", mode=0o4755),
        member(f"{prefix}/deep/er/file", data=b"deep\n", mode=0o600, uid=1000, gid=1000),
        member("top.txt", data=b"top\n", mode=0o444),
    ]


def tar_bytes(members, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in members:
            t.addfile(info, data)
    return buf.getvalue()


def write(case, name, data):
    path = os.path.join(HERE, "cases", case, "context", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    case = "c05-add-tar-formats"
    write(case, "plain.tar", tar_bytes(tree_members("p")))
    write(case, "tree.tar.gz", gzip.compress(tar_bytes(tree_members("g")), mtime=0))
    write(case, "tree.tar.bz2", bz2.compress(tar_bytes(tree_members("b"))))
    write(case, "tree.tar.xz", lzma.compress(tar_bytes(tree_members("x"))))
    write(case, "pax.tar", tar_bytes(tree_members("pax") + [member("pax/long-" + "n" * 120 + ".txt", data=b"long\n")], tarfile.PAX_FORMAT))
    write(case, "notatar.tar.gz", b"just text, not an archive\n")
    write(case, "gzipped-text.gz", gzip.compress(b"compressed text, not a tar\n", mtime=0))
    write(case, "empty.tar.gz", b"")

    case = "c12-add-tar-edges"
    write(case, "links.tar", tar_bytes([
        member("real/", tarfile.DIRTYPE, mode=0o755),
        member("lnk", tarfile.SYMTYPE, link="real", mode=0o777),
        member("lnk/through.txt", data=b"through\n"),
        member("abs", tarfile.SYMTYPE, link="/real", mode=0o777),
        member("abs/inside-chroot.txt", data=b"chroot\n"),
        member("noparent/made/by/untar.txt", data=b"parents\n", mode=0o600),
        member("../up.txt", data=b"up\n"),
        member("/rooted.txt", data=b"rooted\n"),
        member("dev-null-like", tarfile.FIFOTYPE, mode=0o644),
    ]))
    write(case, "replace.tar", tar_bytes([
        member("was-file/", tarfile.DIRTYPE, mode=0o755),
        member("was-file/x", data=b"x\n"),
        member("was-dir", data=b"now a file\n"),
        member("existing/", tarfile.DIRTYPE, mode=0o700, uid=7, gid=7),
        member("existing/new.txt", data=b"new\n"),
    ]))
    write(case, "nested/inner.tar", tar_bytes([member("from-inner.txt", data=b"inner\n")]))


if __name__ == "__main__":
    main()
