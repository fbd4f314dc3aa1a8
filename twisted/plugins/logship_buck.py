from twisted.application.service import ServiceMaker

logship_buck = ServiceMaker(
    "logship-buck", "logship.buck.tap", "logship: receive, acknowledge and store time-bucketed events", "logship-buck"
)
