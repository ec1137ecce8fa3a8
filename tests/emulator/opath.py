"""A subset of OPATH, the -Filter language of the Exchange cmdlets.

Grammar: expr := or; or := and ('-or' and)*; and := unary ('-and' unary)*;
unary := '-not' unary | '(' expr ')' | comparison; comparison := Property op value;
op := -eq -ne -like -notlike -gt -ge -lt -le; value := 'single' | "double" | $null |
$true | $false | bare word. Strings compare case-insensitively; -like knows only *.
"""
from __future__ import annotations

import datetime
import re

from .tenant import DATE_FILTERABLE, FILTERABLE


class FilterError(ValueError):
    """Malformed filter or unknown property; ``position`` is 1-based."""

    def __init__(self, message, position):
        super().__init__(message)
        self.position = position


_TOKEN = re.compile(r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>-[A-Za-z]+)|(?P<sq>'(?:[^']|'')*')|(?P<dq>"(?:[^"]|"")*")"""
                    r"""|(?P<var>\$[A-Za-z]+)|(?P<word>[^\s()'"]+))""")
COMPARISONS = {"-eq", "-ne", "-like", "-notlike", "-gt", "-ge", "-lt", "-le"}


def _tokens(text):
    position = 0
    tokens = []
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise FilterError("syntax", position + 1)
        kind = match.lastgroup
        value = match.group(kind)
        start = match.start(kind) + 1
        if kind == "sq":
            value = value[1:-1].replace("''", "'")
        elif kind == "dq":
            value = value[1:-1].replace('""', '"')
        tokens.append((kind, value, start))
        position = match.end()
    return tokens


def _either(left, right):
    return lambda r: left(r) or right(r)


def _both(left, right):
    return lambda r: left(r) and right(r)


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None, len(self.text) + 1)

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def parse(self):
        if not self.tokens:
            raise FilterError("syntax", 1)
        node = self.parse_or()
        kind, _value, start = self.peek()
        if kind is not None:
            raise FilterError("syntax", start)
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.peek()[0] == "op" and self.peek()[1].lower() == "-or":
            self.take()
            node = _either(node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_unary()
        while self.peek()[0] == "op" and self.peek()[1].lower() == "-and":
            self.take()
            node = _both(node, self.parse_unary())
        return node

    def parse_unary(self):
        kind, value, start = self.peek()
        if kind == "op" and value.lower() == "-not":
            self.take()
            inner = self.parse_unary()
            return lambda r: not inner(r)
        if kind == "lp":
            self.take()
            node = self.parse_or()
            if self.take()[0] != "rp":
                raise FilterError("syntax", start)
            return node
        return self.parse_comparison()

    def parse_comparison(self):
        kind, prop, start = self.take()
        if kind != "word":
            raise FilterError("syntax", start)
        if prop.lower() not in FILTERABLE:
            raise FilterError("property:" + prop, start)
        kind, operator, op_start = self.take()
        if kind != "op" or operator.lower() not in COMPARISONS:
            raise FilterError("syntax", op_start)
        kind, value, value_start = self.take()
        if kind not in ("sq", "dq", "var", "word"):
            raise FilterError("syntax", value_start)
        if kind == "var":
            lowered = value.lower()
            if lowered not in ("$null", "$true", "$false"):
                raise FilterError("syntax", value_start)
            value = {"$null": None, "$true": True, "$false": False}[lowered]
        return _comparison(prop.lower(), operator.lower(), value)


def _normal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value).lower()


def _like(pattern):
    regex = re.compile("^" + ".*".join(re.escape(part) for part in pattern.lower().split("*")) + "$", re.S)
    return lambda value: bool(regex.match(value))


# Date values in the en-US culture the client asks for with Accept-Language: the documented
# example is '8/1/2017 2:00:00 PM' (filter-properties.md); a date alone and ISO 8601 are also taken.
DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")


def _as_date(value):
    text = str(value).strip()
    for form in DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, form).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError("syntax", 1) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def _comparison(prop, operator, value):
    def get(recipient):
        return recipient.prop(prop)

    if prop in DATE_FILTERABLE:
        when = _as_date(value) if value is not None else None
        ops = {"-eq": lambda a: a == when, "-ne": lambda a: a != when, "-gt": lambda a: when is not None and a > when,
               "-ge": lambda a: when is not None and a >= when, "-lt": lambda a: when is not None and a < when,
               "-le": lambda a: when is not None and a <= when}
        if operator not in ops:
            raise FilterError("syntax", 1)
        test = ops[operator]
        return lambda r: test(get(r))
    if prop == "emailaddresses":
        wanted = _normal(value)
        matcher = _like(wanted) if operator in ("-like", "-notlike") else None

        def any_address(recipient):
            for address in recipient.email_addresses():
                address = address.lower()
                bare = address.split(":", 1)[1]
                if (matcher(address) or matcher(bare)) if matcher else wanted in (address, bare):
                    return True
            return False
        return (lambda r: not any_address(r)) if operator in ("-ne", "-notlike") else any_address
    wanted = _normal(value)
    if operator == "-eq":
        return lambda r: _normal(get(r)) == wanted
    if operator == "-ne":
        return lambda r: _normal(get(r)) != wanted
    if operator in ("-like", "-notlike"):
        match = _like(wanted)
        return (lambda r: match(_normal(get(r)))) if operator == "-like" else (lambda r: not match(_normal(get(r))))
    compare = {"-gt": lambda a: a > wanted, "-ge": lambda a: a >= wanted, "-lt": lambda a: a < wanted,
               "-le": lambda a: a <= wanted}[operator]
    return lambda r: compare(_normal(get(r)))


def compile_filter(text):
    """A predicate over recipients; raises FilterError."""
    text = str(text).strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return _Parser(text).parse()
