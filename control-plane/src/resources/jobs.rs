//! A Job at creation, as kube-apiserver's Job strategy prepares it: its uid is decided
//! before validation, because the generated selector and template labels carry it.

use skiff_proto::model::{generate_job_selector, Object};

/// Gives a new Job its uid and generated selector; the uid it is to be created with
/// (`None` for other kinds). A uid in the manifest (one saved with `get -o yaml`) is
/// not reused: a new object always gets a new one.
pub(super) fn prepare_for_create(object: &mut Object) -> Option<String> {
    let Object::Job(job) = object else {
        return None;
    };
    let uid = crate::core::ids::new_uid();
    job.metadata.uid = Some(uid.clone());
    generate_job_selector(job);
    Some(uid)
}
