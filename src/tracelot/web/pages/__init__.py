"""Every page router, in navigation order; each capability adds one line."""

from tracelot.web.pages import auth, buy, issues, items, make, picker, recall, sell, stock

PAGES = [
    auth.router,
    sell.router,
    picker.router,
    make.router,
    buy.router,
    items.router,
    stock.router,
    recall.router,
    issues.router,
]
