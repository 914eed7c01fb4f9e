"""Every page router, in navigation order; each capability adds one line."""

from tracelot.web.pages import auth, issues, items, picker, recall, sell, soon, stock

PAGES = [
    auth.router,
    sell.router,
    picker.router,
    items.router,
    stock.router,
    recall.router,
    issues.router,
    soon.router,
]
