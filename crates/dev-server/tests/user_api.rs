//! The user API of contract A.6 at the HTTP level: membership errors, issue
//! references, updates, comment pages, attribution, attachments, tokens and the
//! browser sign-in.

mod common;

use common::{Env, Reply};
use serde_json::{Value, json};

/// A request with the workspace header, as the CLI sends it.
async fn call(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (Reply, reqwest::header::HeaderMap) {
    let mut request = env
        .http
        .request(method, env.url(path))
        .bearer_auth(&env.user.token)
        .header("X-Workspace-ID", &env.workspace.id);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let headers = response.headers().clone();
    let status = response.status().as_u16();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("body");
    (
        Reply {
            status,
            content_type,
            body,
        },
        headers,
    )
}

async fn get(env: &Env, path: &str) -> Reply {
    call(env, reqwest::Method::GET, path, None, &[]).await.0
}

#[tokio::test]
async fn membership_and_lookup_errors_have_the_seed_texts() {
    let env = Env::new().await;
    let issue = env.issue("Lookups");

    // No workspace at all.
    env.get(&format!("/api/issues/{}", issue.id))
        .await
        .assert_error(400, "workspace_id is required");
    // A workspace the user is not in, and one that does not exist.
    let other = env.admin.create_user("Other", "other@example.com");
    let reply = env
        .http
        .get(env.url(&format!("/api/issues/{}", issue.id)))
        .bearer_auth(&other.token)
        .header("X-Workspace-ID", &env.workspace.id)
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status().as_u16(), 404);
    assert_eq!(
        reply.text().await.expect("body"),
        "{\"error\":\"workspace not found\"}\n"
    );
    get(&env, "/api/issues?workspace_id=not-a-uuid")
        .await
        .assert_error(404, "workspace not found");

    // Issues by UUID and by key; unknown ones are 404.
    let by_key = get(&env, &format!("/api/issues/{}", issue.identifier)).await;
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    assert!(by_key.body.ends_with("}\n"));
    let by_key = by_key.value();
    assert_eq!(by_key["id"], issue.id.as_str());
    for field in ["parent_issue_id", "due_date", "assignee_id", "description"] {
        assert!(
            by_key.get(field).is_some(),
            "{field} present (null) in {by_key}"
        );
    }
    get(&env, "/api/issues/XYZ-999")
        .await
        .assert_error(404, "issue not found");

    // Auth comes first; unknown /api paths are plain 404s.
    env.send(reqwest::Method::GET, "/api/issues", None, None)
        .await
        .assert_auth_error("missing authorization header");
    let unknown = get(&env, "/api/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, "404 page not found\n");
}

#[tokio::test]
async fn updates_validate_clear_and_record_the_actor() {
    let env = Env::new().await;
    let runtime = env.register("d1", &["claude"]).await.remove(0);
    let agent = env.agent(&runtime.id, 1);
    let (issue_id, task_id) = env.assigned("Update me", &agent);
    let path = format!("/api/issues/{issue_id}");

    let (reply, _) = call(
        &env,
        reqwest::Method::PUT,
        &path,
        Some(json!({"status": "in_review", "due_date": "2026-12-01T09:00:00Z"})),
        &[("X-Agent-ID", &agent.id), ("X-Task-ID", &task_id)],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let updated = reply.value();
    assert_eq!(updated["status"], "in_review");
    assert_eq!(updated["due_date"], "2026-12-01T09:00:00Z");
    // A status change leaves the running work alone.
    assert_eq!(env.status_of(&task_id).await, "queued");

    let (reply, _) = call(
        &env,
        reqwest::Method::PUT,
        &path,
        Some(json!({"due_date": null, "description": null})),
        &[],
    )
    .await;
    assert!(reply.value()["due_date"].is_null());

    let (reply, _) = call(
        &env,
        reqwest::Method::PUT,
        &path,
        Some(json!({"status": "finished"})),
        &[],
    )
    .await;
    reply.assert_error(400, "invalid status");

    let history = env.admin.issue(&issue_id).expect("issue").history;
    let who: Vec<(&str, &str)> = history
        .iter()
        .map(|c| (c.field.as_str(), c.actor_type.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("status", "agent"),
            ("due_date", "agent"),
            ("due_date", "member")
        ]
    );

    // Unassigning cancels the queued task.
    let (reply, _) = call(
        &env,
        reqwest::Method::PUT,
        &path,
        Some(json!({"assignee_type": null, "assignee_id": null})),
        &[],
    )
    .await;
    assert!(reply.value()["assignee_id"].is_null());
    assert_eq!(env.status_of(&task_id).await, "cancelled");
    let runs = get(&env, &format!("{path}/task-runs")).await.value();
    assert_eq!(runs[0]["status"], "cancelled");
    assert_eq!(runs[0]["workspace_id"], "");
}

#[tokio::test]
async fn comments_are_created_paged_and_attributed() {
    let env = Env::new().await;
    let issue = env.issue("Talk");
    let path = format!("/api/issues/{}/comments", issue.identifier);

    let (reply, _) = call(
        &env,
        reqwest::Method::POST,
        &path,
        Some(json!({"content": ""})),
        &[],
    )
    .await;
    reply.assert_error(400, "content is required");
    let (reply, _) = call(
        &env,
        reqwest::Method::POST,
        &path,
        Some(json!({"content": "x", "parent_id": "00000000-0000-0000-0000-000000000000"})),
        &[],
    )
    .await;
    reply.assert_error(400, "invalid parent comment");

    for n in 0..3 {
        let (reply, _) = call(
            &env,
            reqwest::Method::POST,
            &path,
            Some(json!({"content": format!("c{n}")})),
            // A header naming no agent of the workspace falls back to the member.
            &[("X-Agent-ID", "00000000-0000-0000-0000-000000000001")],
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let comment = reply.value();
        assert_eq!(comment["author_type"], "member");
        assert_eq!(comment["author_id"], env.user.id.as_str());
        assert_eq!(comment["type"], "comment");
        assert_eq!(comment["attachments"], json!([]));
    }

    let (page, headers) = call(
        &env,
        reqwest::Method::GET,
        &format!("{path}?limit=2&offset=1"),
        None,
        &[],
    )
    .await;
    let page = page.value();
    let contents: Vec<&str> = page
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["content"].as_str())
        .collect();
    assert_eq!(contents, ["c1", "c2"]);
    assert_eq!(
        headers.get("X-Total-Count").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let (_, headers) = call(&env, reqwest::Method::GET, &path, None, &[]).await;
    assert!(headers.get("X-Total-Count").is_none(), "not paginated");
    get(&env, &format!("{path}?limit=abc"))
        .await
        .assert_error(400, "invalid limit");
    get(&env, &format!("{path}?since=yesterday"))
        .await
        .assert_error(400, "invalid since");
}

#[tokio::test]
async fn uploads_are_recorded_linked_and_served() {
    let env = Env::new().await;
    let issue = env.issue("Files");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name("dump.bin")
                .mime_str("application/octet-stream")
                .expect("mime"),
        )
        .text("issue_id", issue.id.clone());
    let uploaded: Value = env
        .http
        .post(env.url("/api/upload-file"))
        .bearer_auth(&env.user.token)
        .header("X-Workspace-ID", &env.workspace.id)
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    assert_eq!(uploaded["filename"], "dump.bin");
    assert_eq!(uploaded["size_bytes"], 70_000);
    assert_eq!(uploaded["issue_id"], issue.id.as_str());
    let id = uploaded["id"].as_str().expect("id").to_owned();

    let (comment, _) = call(
        &env,
        reqwest::Method::POST,
        &format!("/api/issues/{}/comments", issue.id),
        Some(json!({"content": "see file", "attachment_ids": [id]})),
        &[],
    )
    .await;
    assert_eq!(comment.value()["attachments"][0]["id"], id.as_str());

    let attachment = get(&env, &format!("/api/attachments/{id}")).await.value();
    let download = attachment["download_url"].as_str().expect("url");
    // The download link needs no token, as a signed CDN link.
    let served = reqwest::get(download)
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(served.as_ref(), bytes.as_slice());
    get(
        &env,
        "/api/attachments/00000000-0000-0000-0000-000000000000",
    )
    .await
    .assert_error(404, "attachment not found");

    // Without a workspace: no record, just a link.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hi".to_vec()).file_name("a.txt"),
    );
    let loose: Value = env
        .http
        .post(env.url("/api/upload-file"))
        .bearer_auth(&env.user.token)
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    assert_eq!(loose["filename"], "a.txt");
    assert!(
        loose["link"]
            .as_str()
            .is_some_and(|l| l.contains("/dev/files/"))
    );
}

#[tokio::test]
async fn tokens_me_members_agents_and_the_browser_sign_in() {
    let env = Env::new().await;
    let me = get(&env, "/api/me").await.value();
    assert_eq!(me["email"], env.user.email.as_str());

    let (created, _) = call(
        &env,
        reqwest::Method::POST,
        "/api/tokens",
        Some(json!({"name": "CLI (test)", "expires_in_days": 90})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.value();
    let token = created["token"].as_str().expect("token");
    assert!(token.starts_with("mul_"));
    assert!(created["expires_at"].is_string());
    let reply = env
        .send(reqwest::Method::GET, "/api/me", Some(token), None)
        .await;
    assert_eq!(reply.status, 200, "the new token works");

    let members = get(
        &env,
        &format!("/api/workspaces/{}/members", env.workspace.id),
    )
    .await
    .value();
    assert_eq!(members[0]["email"], env.user.email.as_str());
    assert_eq!(members[0]["role"], "owner");
    get(&env, "/api/workspaces/00000000-0000-0000-0000-000000000000")
        .await
        .assert_error(404, "workspace not found");
    let runtime = env.register("d1", &["claude"]).await.remove(0);
    let agent = env.agent(&runtime.id, 1);
    let agents = get(&env, "/api/agents").await.value();
    assert_eq!(agents[0]["id"], agent.id.as_str());
    assert_eq!(agents[0]["runtime_mode"], "local");

    // The sign-in page redirects to a loopback callback only.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = |callback: &str| {
        no_redirects
            .get(env.url("/login"))
            .query(&[("cli_callback", callback), ("cli_state", "s1")])
            .send()
    };
    let redirect = login("http://127.0.0.1:9/callback").await.expect("login");
    assert_eq!(redirect.status().as_u16(), 302);
    let location = redirect
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location");
    let location = url::Url::parse(location).expect("url");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some("s1"));
    let session = query.get("token").expect("token");
    let reply = env
        .send(reqwest::Method::GET, "/api/me", Some(session), None)
        .await;
    assert_eq!(reply.status, 200);
    let refused = login("https://evil.example/callback").await.expect("login");
    assert_eq!(refused.status().as_u16(), 400);
}
