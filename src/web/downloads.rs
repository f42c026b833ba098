//! `/downloads/`: the companion client of this portal's version, its generated `client.toml`
//! and the portal's CA. The page is for staff who may mint tokens; the files are public (the
//! broken workstation has no staff session, and nothing in them is secret: see
//! `crate::downloads`). The token page's commands come from here too.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppError;
use super::AppState;
use super::extract::CurrentStaff;
use super::extract::RequestOrigin;
use crate::auth::Staff;
use crate::downloads::{Downloads, Kind, VERSION, commands};
use crate::policy::Action;

/// One row of a file table: what it is, where, how big, its SHA-256.
pub struct Listing {
    pub label: &'static str,
    pub file_name: String,
    pub href: String,
    pub size: String,
    pub sha256: String,
}

fn listing(d: &Downloads) -> Vec<Listing> {
    d.files()
        .iter()
        .map(|f| Listing {
            label: f.kind.label(),
            file_name: f.file_name.clone(),
            href: f.path(),
            size: size(f.bytes.len()),
            sha256: f.sha256.clone(),
        })
        .collect()
}

/// `5.7 MiB`, `1.2 KiB`, `310 bytes`.
fn size(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "downloads.html")]
pub struct DownloadsPage {
    pub(super) staff: Option<Staff>,
    pub(super) version: &'static str,
    /// Empty: downloads are not configured.
    pub(super) files: Vec<Listing>,
    pub(super) client_toml: Option<String>,
}

/// `GET /downloads/`: the files, their sizes and hashes, and the generated `client.toml`.
pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
) -> Result<DownloadsPage, AppError> {
    super::authorize::Asking::new(&state, &staff, &origin)
        .permitted(Action::MintToken, super::authorize::About::Nothing)
        .await?;
    let d = state.downloads.as_deref();
    Ok(DownloadsPage {
        files: d.map(listing).unwrap_or_default(),
        client_toml: d
            .and_then(|d| d.get(Kind::ClientToml))
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned()),
        version: VERSION,
        staff: Some(staff),
    })
}

/// `GET /downloads/{file}`: one file, as hashed at the start. Public.
pub async fn file(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let f = state
        .downloads
        .as_deref()
        .and_then(|d| d.file(&name))
        .ok_or(AppError::NotFound)?;
    // The name is ours (version characters and a fixed stem), never the request's.
    let disposition = HeaderValue::try_from(format!("attachment; filename=\"{}\"", f.file_name))
        .map_err(|e| AppError::Internal(e.into()))?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(f.kind.content_type()),
        ),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    Ok((headers, Body::from(Bytes::from_owner(f.bytes.clone()))).into_response())
}

/// What the token page shows for the workstation, when downloads are configured.
pub struct ClientHelp {
    pub windows: Option<String>,
    pub linux: Option<String>,
    pub files: Vec<Listing>,
}

/// The commands that fetch the client and redeem `token`; `None` without downloads (the
/// page then keeps its plain instructions). A failure to render is logged and falls back
/// too: the token is minted already and must be shown.
pub fn for_token(state: &AppState, token: &str) -> Option<ClientHelp> {
    let d = state.downloads.as_deref()?;
    match commands::render(d, token) {
        Ok(c) => Some(ClientHelp {
            windows: c.windows,
            linux: c.linux,
            files: listing(d),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot render the client commands for the token page");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(310), "310 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5_976_883), "5.7 MiB");
    }

    #[test]
    fn the_page_says_when_downloads_are_not_configured() {
        let page = DownloadsPage {
            staff: None,
            version: VERSION,
            files: Vec::new(),
            client_toml: None,
        };
        let html = page.render().unwrap();
        assert!(html.contains("not configured"), "{html}");
    }

    #[test]
    fn the_page_lists_each_file_with_its_hash_escaped() {
        let page = DownloadsPage {
            staff: None,
            version: VERSION,
            files: vec![Listing {
                label: Kind::WindowsExe.label(),
                file_name: Kind::WindowsExe.file_name(),
                href: "/downloads/x".into(),
                size: size(10),
                sha256: "ab".repeat(32),
            }],
            client_toml: Some("portal_url = \"https://a/<b>\"\n".into()),
        };
        let html = page.render().unwrap();
        assert!(html.contains(&"ab".repeat(32)), "{html}");
        assert!(html.contains("href=\"/downloads/x\""), "{html}");
        assert!(
            html.contains("&#60;b&#62;") && !html.contains("<b>"),
            "{html}"
        );
    }
}
