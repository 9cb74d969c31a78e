//! Users and groups, read from the `/etc/passwd` and `/etc/group` of the root a process
//! actually sees (the host's, or a container's through `/proc/<pid>/root`).
//!
//! Key decision: no NSS calls (`getpwuid` would answer for the host, not the container, and
//! may block on the network); files are parsed once per root and cached by container id, so a
//! lookup on the event path is a hash probe.

use rustc_hash::FxHashMap;
use std::path::Path;

/// One `/etc/passwd` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// Primary group.
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// The users and groups of one root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserDb {
    users: FxHashMap<u32, User>,
    groups: FxHashMap<u32, String>,
}

/// Most bytes read from a passwd/group file: a hostile container cannot make us load more.
const MAX_FILE: u64 = 4 << 20;

fn read_bounded(path: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

impl UserDb {
    /// Parses passwd and group texts; malformed lines are skipped.
    pub fn parse(passwd: &str, group: &str) -> Self {
        let mut db = UserDb::default();
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || line.starts_with('#') {
                continue;
            }
            if let Ok(uid) = f[2].parse::<u32>() {
                db.users.entry(uid).or_insert(User {
                    name: f[0].to_string(),
                    gid: f[3].parse().unwrap_or(0),
                    home: f[5].to_string(),
                    shell: f[6].to_string(),
                });
            }
        }
        for line in group.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || line.starts_with('#') {
                continue;
            }
            if let Ok(gid) = f[2].parse::<u32>() {
                db.groups.entry(gid).or_insert_with(|| f[0].to_string());
            }
        }
        db
    }

    /// Loads `<root>/etc/passwd` and `<root>/etc/group` (missing files are empty tables).
    /// `None` when the root itself is gone (the process exited): nothing to cache then.
    pub fn load(root: &Path) -> Option<Self> {
        std::fs::metadata(root).ok()?;
        let passwd = read_bounded(&root.join("etc/passwd")).unwrap_or_default();
        let group = read_bounded(&root.join("etc/group")).unwrap_or_default();
        Some(Self::parse(&passwd, &group))
    }

    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.get(&uid)
    }

    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }

    /// Every user, in uid order (capture files list them).
    pub fn users(&self) -> Vec<(u32, &User)> {
        let mut v: Vec<_> = self.users.iter().map(|(uid, u)| (*uid, u)).collect();
        v.sort_by_key(|(uid, _)| *uid);
        v
    }

    /// Every group, in gid order.
    pub fn groups(&self) -> Vec<(u32, &str)> {
        let mut v: Vec<_> = self.groups.iter().map(|(g, n)| (*g, n.as_str())).collect();
        v.sort_by_key(|(g, _)| *g);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_group() {
        let db = UserDb::parse(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nalice:x:1000:1000:Alice:/home/alice:/bin/zsh\nalice2:x:1000:1:dup:/x:/y\n",
            "root:x:0:\nstaff:x:50:alice\nbad\n",
        );
        assert_eq!(
            db.user(1000),
            Some(&User {
                name: "alice".into(),
                gid: 1000,
                home: "/home/alice".into(),
                shell: "/bin/zsh".into()
            })
        );
        assert_eq!(db.user(0).map(|u| u.name.as_str()), Some("root"));
        assert_eq!(db.user(7), None);
        assert_eq!(db.group(50), Some("staff"));
        assert_eq!(db.group(1), None);
    }
}
