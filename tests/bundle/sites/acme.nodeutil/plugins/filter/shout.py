# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""acme.nodeutil.shout: text in capitals, with an exclamation mark."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def shout(text):
    return "%s!" % str(text).upper()


class FilterModule(object):
    def filters(self):
        return {"shout": shout}
