"""A real browser as a callprobe party, and the test page it plays (``docs/peers.md``).

``site`` serves the page (HTML and the protocol modules it loads, all from
this package: no CDN); ``host`` starts Chromium through Playwright (the
optional ``browser`` extra); ``agent`` is the party the runner plays;
``accounts`` gets each page its login the way the family's driver does.
"""
