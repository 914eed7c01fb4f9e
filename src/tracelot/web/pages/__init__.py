"""Every page router, in navigation order; each capability adds one line."""

from tracelot.web.pages import auth, items, soon, stock

PAGES = [auth.router, items.router, stock.router, soon.router]
