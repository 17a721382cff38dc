# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Parse os-release(5) text and decide which HyperPod platform it describes.

Pure functions on strings and dicts, standard library only, so they can be
tested without Ansible. They run on the managed node's Python (3.7 on
Amazon Linux 2), so keep the syntax compatible with it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re


PLATFORM_AL2 = 'al2'
PLATFORM_AL2023 = 'al2023'
PLATFORM_UNSUPPORTED = 'unsupported'

AMAZON_LINUX_ID = 'amzn'

# (VERSION_ID, platform, human name) for every supported Amazon Linux release.
SUPPORTED_AMAZON_LINUX = (
    ('2', PLATFORM_AL2, 'Amazon Linux 2'),
    ('2023', PLATFORM_AL2023, 'Amazon Linux 2023'),
)

# Keys whose value is a space-separated list rather than a single string.
LIST_KEYS = frozenset(['id_like'])

# KEY=value, KEY being a shell variable name. Spaces or tabs around '=' are
# tolerated (systemd's own parser accepts them too).
_ASSIGNMENT = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$')

# Characters a backslash escapes inside double quotes (as in the shell).
_DOUBLE_QUOTE_ESCAPABLE = frozenset('"\\`$')

# Whitespace stripped from both ends of a line: ASCII only, so that e.g. a
# trailing no-break space inside a value survives.
_LINE_WHITESPACE = ' \t\v\f'


def unquote_value(raw):
    """Unquote and unescape one os-release value the way a POSIX shell would.

    * ``"..."``: literal except that a backslash before one of ``" \\ ` $``
      yields that character (any other backslash is kept as is);
    * ``'...'``: entirely literal;
    * unquoted text: a backslash makes the next character literal (a lone
      backslash at the very end is dropped).

    Quoted and unquoted pieces may follow one another and are joined, as the
    shell does. Returns None when a quote is left open: such a line is not a
    valid assignment.
    """
    out = []
    quote = None
    index = 0
    length = len(raw)
    while index < length:
        char = raw[index]
        if quote is None:
            if char in ('"', "'"):
                quote = char
            elif char == '\\':
                index += 1
                if index < length:
                    out.append(raw[index])
            else:
                out.append(char)
        elif quote == "'":
            if char == "'":
                quote = None
            else:
                out.append(char)
        else:
            if char == '"':
                quote = None
            elif char == '\\' and index + 1 < length and raw[index + 1] in _DOUBLE_QUOTE_ESCAPABLE:
                index += 1
                out.append(raw[index])
            else:
                out.append(char)
        index += 1
    if quote is not None:
        return None
    return ''.join(out)


def _lines(text):
    """Split text on LF, CRLF or lone CR (and nothing else)."""
    return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def parse_os_release(text):
    """Parse the contents of an os-release(5) file.

    ``text`` is a str (bytes are decoded as UTF-8, invalid sequences replaced).
    Returns a dict with one entry per assignment: key lower-cased, value
    unquoted and unescaped; ``id_like`` is a list of words. When a key is
    assigned more than once the last assignment wins, as in the shell.

    Lines that are not assignments are ignored: blank lines, comments,
    anything whose key is not a shell variable name, and values with an
    unterminated quote. Never raises on odd input; at worst returns {}.
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    if text.startswith('\ufeff'):
        text = text[1:]

    result = {}
    for line in _lines(text):
        line = line.strip(_LINE_WHITESPACE)
        if not line or line.startswith('#'):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            continue
        value = unquote_value(match.group(2))
        if value is None:
            continue
        key = match.group(1).lower()
        if key in LIST_KEYS:
            value = value.split()
        result[key] = value
    return result


def hyperpod_platform(os_release, source='os-release'):
    """Decide the HyperPod platform from a parse_os_release() result.

    Looks at ID and VERSION_ID together. Returns ``(platform, reason)`` where
    platform is ``al2``, ``al2023`` or ``unsupported`` and reason is a short
    sentence saying why. ``source`` names the file in the reason when there
    is no ID at all.
    """
    os_id = os_release.get('id') or ''
    version_id = os_release.get('version_id') or ''
    supported = ', '.join(entry[0] for entry in SUPPORTED_AMAZON_LINUX)

    if not os_id:
        return PLATFORM_UNSUPPORTED, 'no ID in %s' % source
    if os_id != AMAZON_LINUX_ID:
        return (PLATFORM_UNSUPPORTED,
                "ID '%s' is not Amazon Linux ('%s')" % (os_id, AMAZON_LINUX_ID))
    if not version_id:
        return (PLATFORM_UNSUPPORTED,
                'Amazon Linux without VERSION_ID in %s is not supported (supported: %s)'
                % (source, supported))
    for wanted, platform, name in SUPPORTED_AMAZON_LINUX:
        if version_id == wanted:
            return platform, "ID '%s' VERSION_ID '%s': %s" % (os_id, version_id, name)
    return (PLATFORM_UNSUPPORTED,
            "Amazon Linux VERSION_ID '%s' is not supported (supported: %s)"
            % (version_id, supported))
