def test_fresh_database_has_reference_data(conn):
    assert conn.execute("SELECT count(*) FROM ticket_status").fetchone() == (6,)
