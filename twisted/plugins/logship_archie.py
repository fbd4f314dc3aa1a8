from twisted.application.service import ServiceMaker

logship_archie = ServiceMaker(
    "logship-archie", "logship.archie.tap", "logship: web page and JSON API for live, recent and history", "logship-archie"
)
