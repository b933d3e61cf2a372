//! Tag diffing, the same for every kind: which tags to set, which to remove, and how
//! the change reads in a plan.

use super::Change;
use crate::model::Tags;

/// `k=v, k=v`, or `(none)`.
pub fn fmt(t: &Tags) -> String {
    if t.is_empty() {
        return "(none)".into();
    }
    t.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What turns `have` into `want`: the tags to set (new or changed) and those to remove.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagDiff {
    pub set: Tags,
    pub remove: Vec<String>,
}

/// None when the tags are as wanted; else the delta and the plan line for it.
pub fn diff(have: &Tags, want: &Tags) -> Option<(TagDiff, Change)> {
    if have == want {
        return None;
    }
    let set = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    Some((
        TagDiff { set, remove },
        Change::new("tags", fmt(have), fmt(want)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_difference_is_sent() {
        let t = |kv: &[(&str, &str)]| -> Tags {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let have = t(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let want = t(&[("a", "1"), ("b", "20"), ("d", "4")]);
        let (d, c) = diff(&have, &want).unwrap();
        assert_eq!(d.set, t(&[("b", "20"), ("d", "4")]));
        assert_eq!(d.remove, vec!["c".to_owned()]);
        assert_eq!(
            (c.before.as_str(), c.after.as_str()),
            ("a=1, b=2, c=3", "a=1, b=20, d=4")
        );
        assert!(diff(&have, &have).is_none());
    }
}
