"""What the pages share and is not a page: the list of pages (registry) and the typed cache
(cache). A page is a file directly in ``pages/``; packages under it hold the parts pages use."""
