//! A deploy or stop request, typed: what is asked of which version, by whom and why, and for a
//! scheduler request what must not have changed since it was decided. `deploy` records it; the
//! scheduler, projects and the dashboard ask through `DeployPort`.

use app::model::VersionId;

/// The actor of automatic actions.
pub const SCHEDULER: &str = "scheduler";

/// What is asked of a version's deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Deploy,
    Stop,
}

/// Who asks. A person's deploy restarts the version's lifetime; an automatic one (the
/// scheduler, or the deletion of a project resumed after a restart) does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requester<'a> {
    Person(&'a str),
    Automatic(&'a str),
}

impl Requester<'_> {
    /// The name the request and the activity log record.
    pub fn name(&self) -> &str {
        match self {
            Requester::Person(n) | Requester::Automatic(n) => n,
        }
    }
}

/// What a scheduler request expects to be unchanged since it was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The deployment's generation when it was read.
    pub generation: i64,
    /// A timed stop: the stop time must still be due.
    pub stop_due: bool,
}

/// A request to deploy or stop a version.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub version: VersionId,
    pub action: Action,
    pub by: Requester<'a>,
    /// Why, for automatic requests (shown with the status); empty for a person's click.
    pub reason: &'a str,
    /// Carried out only if the deployment is as it was read (scheduler requests).
    pub expect: Option<Expect>,
}

impl<'a> Request<'a> {
    /// A person's click: deploy or stop, now.
    pub fn by_person(name: &'a str, version: VersionId, action: Action) -> Self {
        Request {
            version,
            action,
            by: Requester::Person(name),
            reason: "",
            expect: None,
        }
    }

    /// O-Neko's own request for `reason`, carried out only if the deployment is still as
    /// `expect` says (when given).
    pub fn automatic(version: VersionId, action: Action, reason: &'a str, expect: Option<Expect>) -> Self {
        Request {
            version,
            action,
            by: Requester::Automatic(SCHEDULER),
            reason,
            expect,
        }
    }
}
