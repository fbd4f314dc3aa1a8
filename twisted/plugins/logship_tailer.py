from twisted.application.service import ServiceMaker

logship_tailer = ServiceMaker(
    "logship-tailer", "logship.tailer.tap", "logship: tail log files and ship every event to R bucks", "logship-tailer"
)
