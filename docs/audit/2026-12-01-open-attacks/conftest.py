"""Attack tests of the outside audit after issue 8: reuse the security suite's helpers and fixtures."""

from tests.security.conftest import *
