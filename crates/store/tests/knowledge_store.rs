//! `KnowledgeStore`'s articles on SQLite, and on Postgres when `TEST_DATABASE_URL` is set:
//! every edit is a new version (nothing overwritten), an unchanged re-import writes nothing,
//! a batch is one transaction, only current versions' chunks are listed, and drafts not yet
//! sent that cite an older version are marked stale.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use support_core::knowledge::{Visibility, chunk_markdown, content_hash};
use support_core::store::*;
use support_testkit::TestDb;

fn input(app: &str, source: &str, title: &str, body: &str, at: i64) -> ArticleInput {
    ArticleInput {
        id: None,
        app: app.into(),
        source: Some(source.into()),
        title: title.into(),
        body: body.into(),
        tags: vec!["billing".into()],
        visibility: Visibility::Public,
        url: None,
        content_hash: content_hash(title, body, &["billing".into()], Visibility::Public, None),
        chunks: chunk_markdown(body),
        author: "import".into(),
        at,
    }
}

fn draft(run: &str) -> DraftRow {
    DraftRow {
        id: format!("drf_{run}"),
        conversation_id: format!("cnv_{run}"),
        app: Some("alpha".into()),
        run_id: run.into(),
        front_draft_id: None,
        text: "Hello".into(),
        html: None,
        knowledge_sources: json!([]),
        created_at: 10,
        sent_text: None,
        sent_at: None,
    }
}

#[tokio::test]
async fn articles_are_versioned_and_chunked_and_drafts_go_stale() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        let refunds = input(
            "alpha",
            "refunds.md",
            "Refunds",
            "# Refunds\nWithin 30 days.\n# Late\nReviewed.",
            1,
        );
        let login = input(
            "alpha",
            "login.md",
            "Login",
            "Links expire after 24 hours.",
            1,
        );
        let other = input("beta", "refunds.md", "Refunds (beta)", "Beta refunds.", 1);
        let out = db
            .put_articles(&[refunds.clone(), login.clone(), other])
            .await
            .unwrap();
        assert!(
            out.iter()
                .all(|o| o.kind == PutKind::Created && o.version == 1)
        );
        let refunds_id = out[0].article_id.clone();
        let rev = db.knowledge_revision().await.unwrap();

        // Re-import of the same content: nothing written.
        let again = db
            .put_articles(std::slice::from_ref(&refunds))
            .await
            .unwrap();
        assert_eq!(again[0].kind, PutKind::Unchanged);
        assert_eq!(again[0].article_id, refunds_id);
        assert_eq!(db.article_versions(&refunds_id).await.unwrap().len(), 1);
        assert_eq!(db.knowledge_revision().await.unwrap(), rev);

        let listed = db.list_articles(Some("alpha")).await.unwrap();
        assert_eq!(
            listed.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(),
            ["Login", "Refunds"]
        );
        assert_eq!(listed[1].tags, vec!["billing".to_string()]);
        assert_eq!(db.list_articles(None).await.unwrap().len(), 3);
        let chunks = db.article_chunks(&refunds_id).await.unwrap();
        assert_eq!(
            chunks
                .iter()
                .map(|c| (c.heading.as_str(), c.text.as_str(), c.version))
                .collect::<Vec<_>>(),
            [("Refunds", "Within 30 days.", 1), ("Late", "Reviewed.", 1)]
        );
        assert_eq!(chunks[0].title, "Refunds");

        // Two drafts cite version 1; one is sent.
        for run in ["run_1", "run_2"] {
            db.insert_draft(&draft(run)).await.unwrap();
            db.record_draft_sources(run, &[(refunds_id.clone(), 1)])
                .await
                .unwrap();
        }
        db.record_draft_sources("run_1", &[(refunds_id.clone(), 1)])
            .await
            .unwrap();
        db.set_draft_sent("run_2", "Hello", 20).await.unwrap();
        assert!(!db.draft_stale("run_1").await.unwrap());

        // A changed file: a new version, the old one kept, the unsent draft stale.
        let mut changed = input(
            "alpha",
            "refunds.md",
            "Refunds",
            "# Refunds\nWithin 14 days.",
            30,
        );
        changed.visibility = Visibility::Internal;
        changed.content_hash = content_hash(
            "Refunds",
            &changed.body,
            &changed.tags,
            Visibility::Internal,
            None,
        );
        let out = db.put_articles(&[changed]).await.unwrap();
        assert_eq!(
            (out[0].kind, out[0].version, out[0].stale_drafts),
            (PutKind::Updated, 2, 1)
        );
        assert_ne!(db.knowledge_revision().await.unwrap(), rev);
        let versions = db.article_versions(&refunds_id).await.unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(versions[1].body, refunds.body);
        assert_eq!(
            db.article_version(&refunds_id, 1)
                .await
                .unwrap()
                .unwrap()
                .body,
            refunds.body
        );
        assert!(db.draft_stale("run_1").await.unwrap());
        assert!(!db.draft_stale("run_2").await.unwrap());
        let uses = db.article_uses(&refunds_id).await.unwrap();
        assert_eq!(uses.len(), 2);
        let stale: Vec<_> = uses
            .iter()
            .map(|u| (u.draft_id.as_str(), u.stale, u.sent))
            .collect();
        assert!(stale.contains(&("drf_run_1", true, false)));
        assert!(stale.contains(&("drf_run_2", false, true)));

        let current = db.current_chunks(Some("alpha")).await.unwrap();
        assert_eq!(current.len(), 2, "{current:?}");
        let r = current.iter().find(|c| c.article_id == refunds_id).unwrap();
        assert_eq!(
            (r.version, r.visibility, r.text.as_str()),
            (2, Visibility::Internal, "Within 14 days.")
        );
        assert_eq!(db.current_chunks(None).await.unwrap().len(), 3);

        // A batch with a bad item writes nothing (one transaction).
        let mut bad = input(
            "alpha",
            "login.md",
            "Login",
            "Links now expire after 1 hour.",
            40,
        );
        bad.id = Some("art_missing".into());
        let fresh = input("alpha", "new.md", "New", "New text.", 40);
        let before = db.list_articles(Some("alpha")).await.unwrap();
        assert!(matches!(
            db.put_articles(&[fresh, bad]).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(db.list_articles(Some("alpha")).await.unwrap(), before);

        // An edit by id makes a new version.
        let login_id = before
            .iter()
            .find(|a| a.title == "Login")
            .unwrap()
            .id
            .clone();
        let mut edit = input(
            "alpha",
            "login.md",
            "Login",
            "Links expire after 1 hour.",
            50,
        );
        edit.id = Some(login_id.clone());
        edit.source = None;
        assert_eq!(db.put_articles(&[edit]).await.unwrap()[0].version, 2);
        assert_eq!(
            db.get_article(&login_id)
                .await
                .unwrap()
                .unwrap()
                .current_version,
            2
        );

        // Removal hides the article and its chunks; versions stay.
        assert!(db.remove_article(&login_id, 60).await.unwrap());
        assert!(!db.remove_article(&login_id, 61).await.unwrap());
        assert!(db.get_article(&login_id).await.unwrap().is_none());
        assert!(db.article_chunks(&login_id).await.unwrap().is_empty());
        assert_eq!(db.article_versions(&login_id).await.unwrap().len(), 2);
        assert_eq!(db.current_chunks(Some("alpha")).await.unwrap().len(), 1);
        // Re-importing a removed article brings it back as a new version.
        let back = db.put_articles(std::slice::from_ref(&login)).await.unwrap();
        assert_eq!((back[0].kind, back[0].version), (PutKind::Updated, 3));
    }
}

#[tokio::test]
async fn chunk_vectors_are_keyed_by_model_and_size_and_pruned_by_hash() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        let small = VectorSpace {
            model: "m-small",
            dims: 3,
        };
        let (a, b) = ("hash-a".to_string(), "hash-b".to_string());
        let va = vec![0.25f32, -1.5, 3.0e-7];
        let vb = vec![1.0f32, 0.0, f32::MIN_POSITIVE];
        db.put_chunk_vectors(small, &[(a.clone(), va.clone()), (b.clone(), vb.clone())])
            .await
            .unwrap();
        // Exact floats back; a hash never stored is absent.
        let got = db
            .chunk_vectors(small, &[a.clone(), b.clone(), "hash-c".into()])
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&a], va);
        assert_eq!(got[&b], vb);
        // A stored key is replaced by a new write of it.
        db.put_chunk_vectors(small, &[(a.clone(), vec![9.0, 9.0, 9.0])])
            .await
            .unwrap();
        assert_eq!(
            db.chunk_vectors(small, std::slice::from_ref(&a))
                .await
                .unwrap()[&a],
            vec![9.0, 9.0, 9.0]
        );
        // The same key twice in one call: the last one.
        db.put_chunk_vectors(small, &[(a.clone(), vec![7.0; 3]), (a.clone(), va.clone())])
            .await
            .unwrap();
        assert_eq!(
            db.chunk_vectors(small, std::slice::from_ref(&a))
                .await
                .unwrap()[&a],
            va
        );

        // Another model, or the same model at another size, sees none of them.
        let other = VectorSpace {
            model: "m-other",
            dims: 3,
        };
        let wider = VectorSpace {
            model: "m-small",
            dims: 4,
        };
        assert!(
            db.chunk_vectors(other, std::slice::from_ref(&a))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            db.chunk_vectors(wider, std::slice::from_ref(&a))
                .await
                .unwrap()
                .is_empty()
        );
        // A vector of the wrong length is refused, and nothing of its batch is written.
        let err = db
            .put_chunk_vectors(
                wider,
                &[
                    ("hash-d".into(), vec![1.0; 4]),
                    ("hash-e".into(), vec![1.0; 3]),
                ],
            )
            .await;
        assert!(matches!(err, Err(StoreError::Corrupt(_))), "{err:?}");
        assert!(
            db.chunk_vectors(wider, &["hash-d".into()])
                .await
                .unwrap()
                .is_empty()
        );
        db.put_chunk_vectors(other, &[(a.clone(), vec![2.0, 2.0, 2.0])])
            .await
            .unwrap();

        // A blob whose length is not 4 × dims is refused on read.
        sqlx::query(
            "INSERT INTO chunk_vectors (model, dims, content_hash, vector) VALUES ($1, $2, $3, $4)",
        )
        .bind("m-small")
        .bind(3i64)
        .bind("hash-short")
        .bind(vec![0u8; 8])
        .execute(db.write_pool())
        .await
        .unwrap();
        let err = db.chunk_vectors(small, &["hash-short".into()]).await;
        assert!(matches!(err, Err(StoreError::Corrupt(_))), "{err:?}");
        // The next write of that key repairs it.
        db.put_chunk_vectors(small, &[("hash-short".into(), vec![4.0, 5.0, 6.0])])
            .await
            .unwrap();
        assert_eq!(
            db.chunk_vectors(small, &["hash-short".into()])
                .await
                .unwrap()["hash-short"],
            vec![4.0, 5.0, 6.0]
        );

        // Many keys at once (more than one statement's batch).
        let many: Vec<(String, Vec<f32>)> = (0..1203)
            .map(|i| (format!("many-{i}"), vec![i as f32, 1.0, 2.0]))
            .collect();
        db.put_chunk_vectors(small, &many).await.unwrap();
        let keys: Vec<String> = many.iter().map(|(h, _)| h.clone()).collect();
        let got = db.chunk_vectors(small, &keys).await.unwrap();
        assert_eq!(got.len(), 1203);
        assert_eq!(got["many-1202"], vec![1202.0, 1.0, 2.0]);

        // Pruning keeps the hashes given, of every model, and deletes the rest.
        let deleted = db
            .prune_chunk_vectors(&[a.clone(), "many-7".into()])
            .await
            .unwrap();
        assert_eq!(deleted, 1 + 1 + 1202, "b, the short blob, 1202 of many");
        assert_eq!(db.chunk_vectors(small, &keys).await.unwrap().len(), 1);
        assert_eq!(
            db.chunk_vectors(small, std::slice::from_ref(&a))
                .await
                .unwrap()[&a],
            va
        );
        assert_eq!(
            db.chunk_vectors(other, std::slice::from_ref(&a))
                .await
                .unwrap()[&a],
            vec![2.0, 2.0, 2.0]
        );
        assert!(
            db.chunk_vectors(small, std::slice::from_ref(&b))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            db.prune_chunk_vectors(std::slice::from_ref(&a))
                .await
                .unwrap(),
            1
        );
    }
}
