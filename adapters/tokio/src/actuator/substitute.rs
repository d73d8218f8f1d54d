//! Placeholder substitution: `{tenant}` `{action}` `{percent}` `{revision}` `{receipt}` in
//! `exec` arguments and `cgroup` group templates, with the rules that keep a substituted value
//! data (never an option, never another path).

use super::ActionRequest;

/// A substituted value that would stop being data where its template puts it; the run is
/// refused before anything is executed or written (`docs/actions.md#substitution-rules`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstitutionError {
    /// An `exec` argument whose template does not begin with `-` would begin with `-` once
    /// substituted: the program would read a tenant id (or another value) as an option.
    #[error(
        "argument {index} {template:?} would become the option {value:?}: a substituted value may not begin an argument with `-`; nothing executed"
    )]
    OptionArgument {
        /// The argument's position in `args` / `rollback_args`, from 0.
        index: usize,
        /// Its template.
        template: String,
        /// What it would have been.
        value: String,
    },
    /// A `cgroup` group component would not be exactly one plain path component once
    /// substituted (empty, `.`, `..`, or containing `/`): the group would be another one.
    #[error(
        "group {template:?}: component {component:?} would be {value:?}, which is {reason}; a substituted value must be exactly one path component; nothing written"
    )]
    PathComponent {
        /// The group template.
        template: String,
        /// The template's component.
        component: String,
        /// What it would have been.
        value: String,
        /// Why that is not one plain component.
        reason: &'static str,
    },
}

/// Substitutes each `exec` argument template; refuses (see
/// [`SubstitutionError::OptionArgument`]) an argument that only substitution makes begin with
/// `-`. A template that itself begins with `-` (`--tenant={tenant}`) is the operator's option
/// and keeps whatever value follows.
pub fn substitute_args(
    templates: &[String],
    req: &ActionRequest,
) -> Result<Vec<String>, SubstitutionError> {
    let mut out = Vec::with_capacity(templates.len());
    for (index, template) in templates.iter().enumerate() {
        let value = substitute(template, req);
        if value.starts_with('-') && !template.starts_with('-') {
            return Err(SubstitutionError::OptionArgument {
                index,
                template: template.clone(),
                value,
            });
        }
        out.push(value);
    }
    debug_assert_eq!(out.len(), templates.len());
    Ok(out)
}

/// Substitutes a `cgroup` group template component by component (the template's components
/// are split at `/` and were checked plain at start). Each substituted component must be one
/// plain name: not empty, not `.` or `..`, no `/`. So the group directory is exactly the
/// mount joined with as many components as the template has, never normalized into another.
pub fn substitute_group(
    template: &str,
    req: &ActionRequest,
) -> Result<Vec<String>, SubstitutionError> {
    let mut out = Vec::new();
    for component in template.split('/') {
        let value = substitute(component, req);
        let reason = match value.as_str() {
            "" => Some("empty"),
            "." => Some("`.`"),
            ".." => Some("`..`"),
            v if v.contains('/') => Some("more than one component (it contains `/`)"),
            v if v.contains('\0') => Some("not a name (it contains a NUL byte)"),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(SubstitutionError::PathComponent {
                template: template.to_owned(),
                component: component.to_owned(),
                value,
                reason,
            });
        }
        out.push(value);
    }
    debug_assert!(out.iter().all(|c| !c.is_empty() && !c.contains('/')));
    Ok(out)
}

/// Fills `{tenant}` `{action}` `{percent}` `{revision}` `{receipt}` in one pass: text that a
/// placeholder expands to is never scanned again, and unknown `{...}` stay as written.
/// Where the result becomes an argument or a path, use [`substitute_args`] or
/// [`substitute_group`], which refuse values that would stop being data.
pub fn substitute(template: &str, req: &ActionRequest) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from_open) = rest.split_at(open);
        out.push_str(before);
        let value = from_open.find('}').and_then(|close| {
            let name = from_open.get(1..close)?;
            Some((placeholder(name, req)?, close))
        });
        match value {
            Some((text, close)) => {
                out.push_str(&text);
                rest = from_open.get(close + 1..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = from_open.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

fn placeholder(name: &str, req: &ActionRequest) -> Option<String> {
    Some(match name {
        "tenant" => req.tenant.clone(),
        "action" => req.kind.as_str().to_owned(),
        "percent" => req.percent.map(|p| p.to_string()).unwrap_or_default(),
        "revision" => req.revision.clone().unwrap_or_default(),
        "receipt" => req.receipt.to_string(),
        _ => return None,
    })
}
