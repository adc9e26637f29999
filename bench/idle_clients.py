#!/usr/bin/env python3
"""Opens N idle PostgreSQL client connections through a proxy (startup + trust auth, then nothing) and reports the
proxy's resident memory before and after. Usage: idle_clients.py PORT PID [N]  (DESIGN §14: 10,000 idle clients on
<= 300 MiB). Needs `ulimit -n` above N for this process and for the proxy."""
import asyncio
import struct
import sys


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def idle_client(port, done):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    params = b"user\0postgres\0database\0postgres\0\0"
    writer.write(struct.pack("!ii", 8 + len(params), 196608) + params)
    await writer.drain()
    while True:
        head = await reader.readexactly(5)
        body = await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)
        if head[:1] == b"Z":
            break
        if head[:1] == b"E":
            raise RuntimeError(body)
    done.append(writer)


async def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    before = rss_kib(pid)
    done = []
    for start in range(0, n, 500):
        await asyncio.gather(*(idle_client(port, done) for _ in range(start, min(n, start + 500))))
    await asyncio.sleep(1)
    after = rss_kib(pid)
    print(f"idle clients={len(done)} proxy_rss_before={before / 1024:.1f}MiB proxy_rss_after={after / 1024:.1f}MiB "
          f"per_client={(after - before) / max(1, len(done)):.1f}KiB")
    for w in done:
        w.close()


asyncio.run(main())
