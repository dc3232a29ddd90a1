# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does an OpenBao (Vault) ACL policy parse? A check of its structure on the controller, so that
a policy with a typo stops the run before any change instead of at its write, after others.

A policy is HCL: comments (#, //, /* */) and top-level blocks ``path "<glob>" { ... }`` whose
bodies hold ``key = value`` settings (strings, numbers, booleans, lists, nested objects). This
reads exactly that: strings, balanced braces and brackets, the block header and assignments.
OpenBao still has the last word when the policy is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_TOKEN = re.compile(r'''
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<heredoc><<-?(?P<tag>[A-Za-z_]+)\n.*?\n\s*(?P=tag)\b)
  | (?P<punct>[{}\[\]=,:])
  | (?P<word>[A-Za-z0-9_.+-]+)
''', re.X | re.S)


def _tokens(text):
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError("line %d: unexpected %r" % (line, text[pos:pos + 20]))
        kind = m.lastgroup if m.lastgroup != 'tag' else 'heredoc'
        if kind not in ('ws', 'comment'):
            yield kind, m.group(0), line
        line += m.group(0).count('\n')
        pos = m.end()


class _Parser(object):
    def __init__(self, text):
        self.toks = list(_tokens(text))
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None, self.toks[-1][2] if self.toks else 1)

    def take(self, kind=None, value=None, what=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise ValueError("line %d: expected %s, found %s" % (
                tok[2], what or value or kind, 'the end' if tok[0] is None else repr(tok[1])))
        self.i += 1
        return tok

    def policy(self):
        if not self.toks:
            raise ValueError("the policy is empty")
        while self.peek()[0] is not None:
            self.take('word', 'path', 'a block `path "<glob>" {`')
            self.take('string', what='the quoted path after `path`')
            self.body()

    def body(self):
        self.take('punct', '{')
        while self.peek()[1] != '}':
            if self.peek()[0] is None:
                self.take('punct', '}')
            self.assignment()
        self.take('punct', '}')

    def assignment(self):
        kind = self.peek()[0]
        self.take('string' if kind == 'string' else 'word', what='a setting name (e.g. capabilities)')
        if self.peek()[1] == '{':  # a nested block (e.g. allowed_parameters {...})
            self.body()
            return
        self.take('punct', '=')
        self.value()

    def value(self):
        kind, text, _line = self.peek()
        if text == '[':
            self.take('punct', '[')
            while self.peek()[1] != ']':
                self.value()
                if self.peek()[1] == ',':
                    self.take('punct', ',')
                elif self.peek()[1] != ']':
                    self.take('punct', ']', "',' or ']'")
            self.take('punct', ']')
        elif text == '{':
            self.take('punct', '{')
            while self.peek()[1] != '}':
                self.take(what='a key')
                self.take('punct', ':' if self.peek()[1] == ':' else '=')
                self.value()
                if self.peek()[1] == ',':
                    self.take('punct', ',')
            self.take('punct', '}')
        elif kind in ('string', 'heredoc', 'word'):
            self.take()
        else:
            self.take(what='a value')


def policy_error(text):
    """None when the policy parses, else what is wrong (with its line)."""
    if not isinstance(text, str):
        return "the policy must be HCL text"
    try:
        _Parser(text).policy()
    except ValueError as err:
        return str(err)
    return None
