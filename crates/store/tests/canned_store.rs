//! `KnowledgeStore`'s canned responses on SQLite, and on Postgres when `TEST_DATABASE_URL` is
//! set: every edit is a new version (nothing overwritten), an unchanged write writes nothing,
//! a write based on an older version is a conflict, a response citing an article version goes
//! stale when the article changes or is removed (and the router no longer reads it), a new
//! version citing the current article is fresh again, and removed responses are not listed.
#![allow(clippy::unwrap_used)]

use support_core::knowledge::{Visibility, chunk_markdown, content_hash};
use support_core::store::*;
use support_testkit::TestDb;

fn article(body: &str, at: i64) -> ArticleInput {
    ArticleInput {
        id: None,
        app: "alpha".into(),
        source: Some("refunds.md".into()),
        title: "Refunds".into(),
        body: body.into(),
        tags: vec![],
        visibility: Visibility::Public,
        url: None,
        content_hash: content_hash("Refunds", body, &[], Visibility::Public, None),
        chunks: chunk_markdown(body),
        author: "import".into(),
        at,
    }
}

fn canned(id: Option<&str>, body: &str, sources: Vec<CannedSource>, at: i64) -> CannedInput {
    CannedInput {
        id: id.map(str::to_owned),
        app: Some("alpha".into()),
        name: "Refund window".into(),
        trigger: "refund window|how long to refund".into(),
        body: body.into(),
        sources,
        base_version: None,
        author: "usr_1".into(),
        at,
    }
}

#[tokio::test]
async fn canned_responses_are_versioned_and_go_stale_with_their_article() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        let art = db
            .put_articles(&[article("Within 30 days.", 1)])
            .await
            .unwrap()
            .remove(0);
        let cite = |v| {
            vec![CannedSource {
                article_id: art.article_id.clone(),
                version: v,
            }]
        };

        let first = db
            .put_canned(&canned(None, "Hi {{first_name}}, 30 days.", cite(1), 2))
            .await
            .unwrap();
        assert_eq!((first.kind, first.version), (PutKind::Created, 1));
        let id = first.id.clone();
        // Unchanged: nothing written.
        let same = db
            .put_canned(&canned(
                Some(&id),
                "Hi {{first_name}}, 30 days.",
                cite(1),
                3,
            ))
            .await
            .unwrap();
        assert_eq!((same.kind, same.version), (PutKind::Unchanged, 1));
        // Another app's response and a global one: listed for alpha with the global one.
        let mut beta = canned(None, "Beta", vec![], 2);
        beta.app = Some("beta".into());
        beta.name = "Beta only".into();
        db.put_canned(&beta).await.unwrap();
        let mut global = canned(None, "Everyone", vec![], 2);
        global.app = None;
        global.name = "Global".into();
        db.put_canned(&global).await.unwrap();
        let names = |rows: Vec<CannedRow>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(
            names(db.list_canned_rows(Some("alpha")).await.unwrap()),
            ["Global", "Refund window"]
        );

        // An edit is a new version; the old one stays.
        let edited = db
            .put_canned(&CannedInput {
                base_version: Some(1),
                ..canned(Some(&id), "Hi {{first_name}}, thirty days.", cite(1), 4)
            })
            .await
            .unwrap();
        assert_eq!((edited.kind, edited.version), (PutKind::Updated, 2));
        let versions = db.canned_versions(&id).await.unwrap();
        assert_eq!(
            versions
                .iter()
                .map(|v| (v.version, v.body.as_str(), v.sources.len()))
                .collect::<Vec<_>>(),
            [
                (2, "Hi {{first_name}}, thirty days.", 1),
                (1, "Hi {{first_name}}, 30 days.", 1)
            ]
        );
        // Based on version 1 while 2 is current: a conflict, nothing written.
        let e = db
            .put_canned(&CannedInput {
                base_version: Some(1),
                ..canned(Some(&id), "lost update", cite(1), 5)
            })
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        assert_eq!(db.canned_versions(&id).await.unwrap().len(), 2);
        // Citing an article version that does not exist: nothing written.
        let e = db
            .put_canned(&canned(Some(&id), "x", cite(9), 5))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
        assert_eq!(
            db.get_canned(&id).await.unwrap().unwrap().current_version,
            2
        );

        let row = db.get_canned(&id).await.unwrap().unwrap();
        assert!(!row.stale);
        assert_eq!(row.sources, cite(1));
        assert!(
            db.list_canned(Some("alpha"))
                .await
                .unwrap()
                .iter()
                .any(|c| c.id == id)
        );

        // The article changes: the response is stale and the router no longer reads it.
        let out = db
            .put_articles(&[article("Within 14 days.", 10)])
            .await
            .unwrap();
        assert_eq!((out[0].version, out[0].stale_canned), (2, 1));
        assert!(db.get_canned(&id).await.unwrap().unwrap().stale);
        assert!(
            !db.list_canned(Some("alpha"))
                .await
                .unwrap()
                .iter()
                .any(|c| c.id == id)
        );
        // A new version still citing v1 is stale from the start; citing v2 makes it fresh.
        let still = db
            .put_canned(&canned(
                Some(&id),
                "Hi {{first_name}}, 30 days!",
                cite(1),
                11,
            ))
            .await
            .unwrap();
        assert_eq!(still.version, 3);
        assert!(db.get_canned(&id).await.unwrap().unwrap().stale);
        db.put_canned(&canned(
            Some(&id),
            "Hi {{first_name}}, 14 days.",
            cite(2),
            12,
        ))
        .await
        .unwrap();
        let fresh = db.get_canned(&id).await.unwrap().unwrap();
        assert_eq!((fresh.stale, fresh.current_version), (false, 4));

        // Removing the article makes it stale again; removing the response hides it.
        assert!(db.remove_article(&art.article_id, 20).await.unwrap());
        assert!(db.get_canned(&id).await.unwrap().unwrap().stale);
        assert!(db.remove_canned(&id, 21).await.unwrap());
        assert!(!db.remove_canned(&id, 22).await.unwrap());
        assert!(db.get_canned(&id).await.unwrap().is_none());
        assert_eq!(
            names(db.list_canned_rows(Some("alpha")).await.unwrap()),
            ["Global"]
        );
        assert_eq!(db.canned_versions(&id).await.unwrap().len(), 4);

        // upsert_canned (seeding) writes versions too, and nothing when unchanged.
        let c = CannedResponse {
            id: "can_seed".into(),
            app: None,
            name: "seed".into(),
            trigger: "t".into(),
            body: "b".into(),
            updated_at: 1,
            sources: vec![],
        };
        db.upsert_canned(&c).await.unwrap();
        db.upsert_canned(&c).await.unwrap();
        db.upsert_canned(&CannedResponse {
            body: "b2".into(),
            ..c.clone()
        })
        .await
        .unwrap();
        let v = db.canned_versions("can_seed").await.unwrap();
        assert_eq!(
            v.iter()
                .map(|v| (v.version, v.author.as_str()))
                .collect::<Vec<_>>(),
            [(2, "system"), (1, "system")]
        );
    }
}
