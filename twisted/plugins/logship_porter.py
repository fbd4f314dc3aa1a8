from twisted.application.service import ServiceMaker

logship_porter = ServiceMaker(
    "logship-porter", "logship.porter.tap", "logship: merge buckets into the recent index and the archive", "logship-porter"
)
