//! The controller: supervisor, network, nemesis, fault schedules, runner, store and reports.
