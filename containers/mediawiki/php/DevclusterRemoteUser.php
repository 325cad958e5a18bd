<?php
/**
 * Sign-in from the cluster's front door: the user it signed in arrives as X-Remote-User (nginx in
 * this container lets only the announced front doors reach MediaWiki, and they strip the header
 * from outside), and this provider makes that user the session's user. MediaWiki creates the
 * account on first sight (autocreateaccount). The session id travels in a cookie of its own, so
 * edit tokens hold from one request to the next; the user cannot be changed inside the wiki.
 * Members of the front door's admin groups (X-Remote-Groups) are the wiki's sysops while they are.
 */

use MediaWiki\Context\RequestContext;
use MediaWiki\MediaWikiServices;
use MediaWiki\Session\ImmutableSessionProviderWithCookie;
use MediaWiki\Session\SessionInfo;
use MediaWiki\Session\UserInfo;
use MediaWiki\User\UserRigorOptions;

class DevclusterRemoteUserSessionProvider extends ImmutableSessionProviderWithCookie {

	/** The front door's user of this request as a MediaWiki user name, or null. */
	public static function remoteUserName( $request ): ?string {
		$raw = $request->getHeader( 'X-Remote-User' );
		if ( $raw === false || trim( $raw ) === '' ) {
			return null;
		}
		$name = MediaWikiServices::getInstance()->getUserNameUtils()
			->getCanonical( trim( $raw ), UserRigorOptions::RIGOR_CREATABLE );
		return $name === false ? null : $name;
	}

	public function provideSessionInfo( $request ) {
		$name = self::remoteUserName( $request );
		if ( $name === null ) {
			$raw = $request->getHeader( 'X-Remote-User' );
			if ( $raw !== false && trim( $raw ) !== '' ) {
				$this->logger->warning( 'X-Remote-User {name} is not a usable wiki user name', [ 'name' => $raw ] );
			}
			return null;
		}
		$id = $this->getSessionIdFromCookie( $request );
		return new SessionInfo( SessionInfo::MAX_PRIORITY, [
			'provider' => $this,
			'id' => $id,
			'userInfo' => UserInfo::newFromName( $name, true ),
			'persisted' => true,
			// A stored session of another user (the front door signed someone else in) is replaced.
			'forceUse' => true,
		] );
	}

	public function newSessionInfo( $id = null ) {
		// Sessions come only from the front door's header.
		return null;
	}

	public function refreshSessionInfo( SessionInfo $info, $request, &$metadata ) {
		// The session is this request's front-door user's, or it is not used.
		$name = self::remoteUserName( $request );
		return $name !== null && $info->getUserInfo() && $info->getUserInfo()->getName() === $name;
	}

	public function getVaryHeaders() {
		return [ 'X-Remote-User' => null, 'X-Remote-Groups' => null ];
	}

	public function preventSessionsForUser( $username ) {
		// The front door decides who is signed in; nothing is kept here to revoke.
	}

	/** Hook UserEffectiveGroups: the request's front-door user is a sysop while in an admin group. */
	public static function onUserEffectiveGroups( $user, &$groups ) {
		global $wgDevclusterSysopGroups;
		$request = RequestContext::getMain()->getRequest();
		$name = self::remoteUserName( $request );
		if ( $name === null || $user->getName() !== $name ) {
			return;
		}
		$header = $request->getHeader( 'X-Remote-Groups' );
		$theirs = $header === false ? [] : array_filter( array_map( 'trim', preg_split( '/[,\s]+/', $header ) ) );
		if ( array_intersect( $theirs, $wgDevclusterSysopGroups ?? [] ) ) {
			$groups = array_values( array_unique( array_merge( $groups, [ 'sysop' ] ) ) );
		}
	}
}
