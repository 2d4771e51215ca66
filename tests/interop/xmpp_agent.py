#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""XMPP client agent for the interop test: logs in one or more slixmpp
clients (inside whichever network namespace it was started in) and obeys
JSON commands, one per line on stdin; reports what the clients see as JSON
events, one per line on stdout.  run.py drives one agent per namespace.

argv[1]: JSON list of {"jid": "user@host/resource", "password": ..., "host": IP}

Commands ("jid" names the client, as a bare JID):
  {"op": "send", "jid": J, "to": T, "prefix": P, "count": N, "mtype": "chat"}
      N messages (type mtype, default chat) with ids "P-0".."P-(N-1)" and
      bodies "P i"; type 'error' ones carry <undefined-condition/>
  {"op": "presence", "jid": J, "to": T or null, "ptype": "subscribe"|..|null, "status": S}
  {"op": "ping", "jid": J, "to": T, "tag": G}     XEP-0199 ping, reports pong/ping_error
  {"op": "quit"}
Events: ready, failed_auth, disconnected, message, error, presence, pong,
ping_error; each carries "jid" (the client) and "from".

slixmpp 1.8.3 on Python 3.11: process(timeout=) raises, so the asyncio loop
is driven here directly (see /work/shared/NOTES.md).
"""
import asyncio
import json
import os
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


def emit(**ev):
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.me = self.boundjid.bare
        self.register_plugin("xep_0199")  # answers pings, and sends ours
        # Accept subscription requests and subscribe back (RFC 6121 §3).
        self.auto_authorize = True
        self.auto_subscribe = True
        self.use_ipv6 = False
        self.enable_plaintext = True
        self["feature_mechanisms"].unencrypted_plain = True
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda _e: emit(ev="failed_auth", jid=self.me))
        self.add_event_handler("disconnected", lambda _e: emit(ev="disconnected", jid=self.me))
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_error)
        self.add_event_handler("presence", self.on_presence)

    async def on_start(self, _ev):
        await self.get_roster()
        self.send_presence()
        emit(ev="ready", jid=self.me, full=str(self.boundjid))

    def on_message(self, msg):
        if msg["type"] == "error":
            return  # reported by on_error
        emit(ev="message", jid=self.me, **{"from": str(msg["from"])}, id=msg["id"],
             body=msg["body"], type=msg["type"])

    def on_error(self, msg):
        emit(ev="error", jid=self.me, **{"from": str(msg["from"])}, id=msg["id"],
             condition=msg["error"]["condition"], text=msg["error"]["text"])

    def on_presence(self, pres):
        emit(ev="presence", jid=self.me, **{"from": str(pres["from"])}, type=pres["type"],
             status=pres["status"],
             condition=pres["error"]["condition"] if pres["type"] == "error" else "")

    async def do_ping(self, to, tag):
        try:
            rtt = await self["xep_0199"].ping(jid=to, timeout=15)
            emit(ev="pong", jid=self.me, **{"from": to}, tag=tag, rtt=rtt)
        except IqError as e:
            emit(ev="ping_error", jid=self.me, **{"from": to}, tag=tag,
                 condition=e.iq["error"]["condition"])
        except IqTimeout:
            emit(ev="ping_error", jid=self.me, **{"from": to}, tag=tag, condition="timeout")

    async def do_send(self, to, prefix, count, mtype):
        for i in range(count):
            m = self.make_message(mto=to, mbody=f"{prefix} {i}", mtype=mtype)
            m["id"] = f"{prefix}-{i}"
            if mtype == "error":
                m["error"]["type"] = "cancel"
                m["error"]["condition"] = "undefined-condition"
            m.send()
            if i % 100 == 99:
                await asyncio.sleep(0)  # let the transport write
        emit(ev="sent", jid=self.me, to=to, prefix=prefix, count=count)


def main():
    accounts = json.loads(sys.argv[1])
    loop = asyncio.get_event_loop()
    clients = {}
    for a in accounts:
        c = Client(a["jid"], a["password"])
        clients[c.me] = c
        c.connect((a["host"], 5222), force_starttls=False, disable_starttls=True)

    done = loop.create_future()
    pending = b""

    def on_stdin():
        nonlocal pending
        data = os.read(0, 65536)
        if not data:
            if not done.done():
                done.set_result(None)
            return
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                run(json.loads(line))

    def run(cmd):
        op = cmd["op"]
        if op == "quit":
            if not done.done():
                done.set_result(None)
            return
        c = clients[cmd["jid"]]
        if op == "send":
            loop.create_task(c.do_send(cmd["to"], cmd["prefix"], cmd["count"], cmd.get("mtype", "chat")))
        elif op == "presence":
            c.send_presence(pto=cmd.get("to"), ptype=cmd.get("ptype"), pstatus=cmd.get("status"))
        elif op == "ping":
            loop.create_task(c.do_ping(cmd["to"], cmd.get("tag", "")))
        else:
            emit(ev="bad_command", cmd=cmd)

    loop.add_reader(0, on_stdin)
    loop.run_until_complete(done)
    for c in clients.values():
        c.disconnect()
    loop.run_until_complete(asyncio.sleep(0.5))


if __name__ == "__main__":
    main()
