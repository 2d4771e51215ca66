#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""session_seeds.py - writes the seed programs of fuzz_session.c into
tests/fuzz/corpus/session/ (run it after changing the program's opcodes).

A program is bytes: an opcode (fz_step), then its arguments; see
fuzz_session.c.  The seeds walk the paths worth starting from: dialback
both ways, and the two high findings of issue 14 - dialback answers
overflowing the send queue of a peer that does not read, and stanzas sent
by the receiving server on an outgoing stream.
"""
import os
import sys

DOM = {"a": 0, "b": 1, "c": 2, "d": 3, "evil": 4, "o": 5, "t": 6}
# fz_step opcodes
ACCEPT, MSG, ANSWER, STALL, CLOSE, SCRIPT, ADVANCE, FIRE, VERIFY_BACK, SHUTDOWN, NOP = \
    0, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15
# fz_message opcodes
HEADER, F_DIALBACK, F_STARTTLS, F_SASL, DB_RESULT, DB_ANSWER, DB_VERIFY, DB_VERIFY_ANSWER, \
    STARTTLS, PROCEED, AUTH, SASL_ANSWER, STANZA, STREAM_ERROR, END, GARBAGE, BURST = \
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18
# XEP-0198: <enable/>, <r/>, <a h/>, <enabled/>|<failed/>, features offering <sm/>
ENABLE, SM_R, SM_A, SM_ANSWER, F_SM = 19, 20, 21, 22, 23
VALID, INVALID, ERROR = 0, 1, 2


def msg(peer, op, d1="b", d2="a", *args):
    return bytes([MSG, peer, op, DOM[d1], DOM[d2], *args])


def accept(ip=0):
    return bytes([ACCEPT, ip])


def answer(peer, kind=VALID):
    return bytes([ANSWER, peer, kind])


def settle(n=3):
    return bytes([NOP] * n)


# Peers are numbered in the order the fuzzer first sees them: inbound
# peers when accepted, outgoing ones after the step that dialled them.
SEEDS = {
    # b.example authenticates by dialback (peer 1: its authoritative
    # server answers valid), then sends a stanza for a.example (no
    # gateway reachable in the clear: bounced back to b.example over a new
    # outgoing stream, peer 2 or 3, which authenticates too).
    "dialback_stanza_bounce": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle()
    + answer(1, VALID) + settle() + msg(0, STANZA, "b", "a", 0x01) + settle(6)
    + answer(2, VALID) + answer(3, VALID) + settle(6),
    # Issue 14, finding 1: the peer stops reading and pipelines
    # <db:verify/> questions; the answers overflow the send queue during
    # authentication.
    "issue14_verify_answers_overflow": accept() + msg(0, HEADER) + bytes([STALL, 0, 1])
    + msg(0, BURST, "b", "a", 120, 100) + msg(0, STANZA, "b", "a", 0x01) + settle(4),
    # The same with the dialback answer itself the overflowing send.
    "issue14_dialback_valid_overflow": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle()
    + bytes([STALL, 0, 1]) + msg(0, BURST, "b", "a", 95, 100) + settle() + answer(1, VALID)
    + settle(4),
    # Issue 14, finding 2: the receiving server sends stanzas on the
    # stream we opened (forged from a hosted domain, to a hosted domain).
    "issue14_stanza_on_outgoing_stream": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle()
    + answer(1, VALID) + settle() + msg(0, STANZA, "b", "a", 0x01) + settle(6)
    + answer(2, VALID) + answer(3, VALID) + settle(3)
    + msg(2, STANZA, "a", "a", 0x01) + msg(3, STANZA, "a", "a", 0x01)
    + msg(1, STANZA, "a", "a", 0x01) + settle(4),
    # Piggybacking: a second pair whose check fails, then its stanza.
    "piggyback_error_pair": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle()
    + answer(1, VALID) + bytes([SCRIPT, DOM["c"], 0, 1 | (2 << 2)]) + msg(0, DB_RESULT, "c", "a")
    + settle() + msg(0, STANZA, "c", "a", 0x01) + settle(4),
    # Failures of every kind for the outgoing stream of a bounce.
    "bounce_failures": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle() + answer(1, VALID)
    + bytes([SCRIPT, DOM["b"], 2, 3, 1 | (1 << 2), 2]) + msg(0, STANZA, "b", "a", 0x01)
    + settle(3) + bytes([ADVANCE, 4]) + settle(3) + msg(0, STANZA, "b", "c", 0x01)
    + bytes([SHUTDOWN, 0]) + settle(3),
    # A partner whose policy refuses dialback, piggybacked.
    "policy_per_pair": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle() + answer(1, VALID)
    + msg(0, DB_RESULT, "d", "a") + msg(0, DB_RESULT, "evil", "a") + msg(0, STANZA, "d", "a", 1)
    + settle(3),
    # Deadlines: nothing answers, time passes.
    # XEP-0198 and custody (issue 21): b.example enables stream management,
    # sends a stanza to c.example (peer 2, offering <sm/>, enabled), which
    # acknowledges it; b asks for its ack.
    "sm_custody": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle() + answer(1, VALID)
    + settle() + msg(0, ENABLE, "b", "a", 0) + msg(0, STANZA, "b", "c", 0x01) + settle(4)
    + msg(2, HEADER, "c", "a") + msg(2, F_SM, "c", "a") + settle() + answer(2, VALID) + settle()
    + msg(2, SM_ANSWER, "c", "a", 1) + settle() + msg(0, SM_R) + settle()
    + msg(2, SM_A, "c", "a", 1) + settle() + msg(0, SM_R) + msg(0, SM_A, "b", "a", 4) + settle(4),
    # A reload stops federation with b.example (op 14, byte 2) while the
    # bounce of its stanza waits for the stream back to it (queued: an
    # error, it is not bounced in turn), and b's stream has XEP-0198 on;
    # a second reload lets b.example in again.
    "reload_refuses_partner": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + settle()
    + answer(1, VALID) + settle() + msg(0, ENABLE, "b", "a", 0) + msg(0, STANZA, "b", "a", 0x01)
    + settle(6) + bytes([SHUTDOWN, 2]) + settle(3) + answer(2, VALID) + answer(3, VALID) + settle(3)
    + bytes([SHUTDOWN, 2]) + msg(0, STANZA, "b", "a", 0x01) + settle(6) + msg(0, SM_R) + settle(3),
    # XEP-0288: b.example's stream carries our stanzas back; b stops
    # reading and sends 300 stanzas for the gateway, whose connection
    # never answers; at its deadline all are bounced at once, more than
    # b's stream can take, and the rest go over a new outgoing stream to
    # b.example (router.c).
    "bidi_full_bounce_new_stream": accept() + msg(0, HEADER) + msg(0, 16, "b", "a", 2)
    + msg(0, DB_RESULT) + answer(1, VALID) + bytes([SCRIPT, DOM["a"], 0, 3]) + bytes([STALL, 0, 1])
    + b"".join(msg(0, STANZA, "b", "a", 0) for _ in range(300)) + settle(2) + bytes([ADVANCE, 5])
    + settle(4),
    "deadlines": accept() + msg(0, HEADER) + msg(0, DB_RESULT) + bytes([SCRIPT, DOM["b"], 0, 3])
    + settle() + bytes([ADVANCE, 2, ADVANCE, 4, ADVANCE, 5, FIRE, 0, ADVANCE, 7]) + settle(3),
}


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "session")
    os.makedirs(root, exist_ok=True)
    for name, prog in SEEDS.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(prog)
    print(f"{len(SEEDS)} seeds in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
