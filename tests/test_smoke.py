def test_admin_lists_sessions(client, helpers):
    admin = helpers.admin(totp=True, name="Root")
    login = helpers.login(admin, code=admin.code())
    response = client.get("/api/v1/sessions/list.all", headers=login.headers())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == 1
    assert body["sessions"][0]["sessionId"] == login.session_id
