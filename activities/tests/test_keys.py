"""Identity keys: the same account, however it was typed, gives the same key."""

from activities.keys import EMAIL, USERNAME, email_key, username_key


def test_an_email_key_is_trimmed_and_case_folded_in_the_one_shared_namespace():
    assert email_key("  Ann@Example.ORG\n") == (EMAIL, "", "ann@example.org")


def test_a_username_key_is_trimmed_and_case_folded_in_its_source_namespace():
    assert username_key("sumo", " Annie ") == (USERNAME, "sumo", "annie")
    assert username_key("sumo", "STRASSE") == username_key("sumo", "straße")
    assert username_key("sumo", "annie") != username_key("discourse", "annie")
